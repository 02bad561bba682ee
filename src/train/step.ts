// One optimizer step of LoRA training on the GPU: zero the gradients, run forward + loss +
// backward over each micro-batch (gradient accumulation), clip the global gradient norm, and
// apply AdamW to the flat parameter buffer. Buffers are planned once for (B, T) (with gradient
// checkpointing, one layer's activations recomputed per layer in backward); the CPU reads back
// one number per micro-batch, the loss, and one per step, the gradient norm (read together with
// the last loss), so that tryStep() skips the update of a step whose loss or gradient is not
// finite: NaN or Infinity never reaches the adapter or AdamW's moments.
import type { GpuContext } from '../gpu/device.js';
import { Recorder } from '../gpu/kernel.js';
import { adamwStep, gradNorm, gradNormScratchSize } from '../gpu/kernels/adamw.js';
import { shiftedTargets } from '../gpu/kernels/crossentropy.js';
import { createTensor, readTensor, writeTensor, type Tensor } from '../gpu/tensor.js';
import type { GpuLora } from '../lora/gpu-lora.js';
import type { LanguageModel } from '../model/model.js';
import { createTrainBuffers, destroyTrainBuffers, type TrainBuffers } from '../model/train-buffers.js';
import { recordTrainPass, writeBatch, type TokenBatch } from '../model/train-pass.js';
import type { NonFiniteValue } from './events.js';

export interface OptimizerConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this value; null = no clipping. */
  maxGradNorm: number | null;
}

/**
 * torch.optim.AdamW's defaults (weight decay 0.01), with clipping at 1.0 as transformers' Trainer does.
 * (The Trainer's own weight-decay default is 0, which TrainingConfig uses: see ./config.ts.)
 */
export const DEFAULT_OPTIMIZER: OptimizerConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1.0 };

export interface TrainStepOptions {
  /**
   * Gradient checkpointing: keep only the residual stream between layers and recompute each
   * layer's activations in the backward pass (less memory, one more forward pass of L − 1
   * layers; the same losses and gradients, bit for bit). Default false.
   */
  gradientCheckpointing?: boolean;
}

/** What tryStep() did: the loss, the global gradient norm, and whether the update was applied. */
export interface StepOutcome {
  loss: number;
  gradNorm: number;
  /** Null when the update was applied; otherwise the first of loss and gradient norm that was not finite. */
  nonFinite: NonFiniteValue | null;
}

export class TrainStep {
  private readonly buffers: TrainBuffers;
  private readonly m: Tensor<'f32'>;
  private readonly v: Tensor<'f32'>;
  private readonly norm: Tensor<'f32'>;
  private readonly normScratch: Tensor<'f32'>;
  /** Optimizer steps taken (AdamW's t). */
  step = 0;

  constructor(
    readonly ctx: GpuContext,
    readonly model: LanguageModel,
    readonly lora: GpuLora,
    maxBatch: number,
    maxLength: number,
    readonly optimizer: OptimizerConfig = DEFAULT_OPTIMIZER,
    opts: TrainStepOptions = {},
  ) {
    this.buffers = createTrainBuffers(ctx, model.spec, maxBatch, maxLength, lora, { checkpoint: opts.gradientCheckpointing ?? false });
    const n = lora.params.size;
    this.m = createTensor(ctx, [n], 'f32', undefined, 'adam.m');
    this.v = createTensor(ctx, [n], 'f32', undefined, 'adam.v');
    this.norm = createTensor(ctx, [1], 'f32', undefined, 'gradNorm');
    this.normScratch = createTensor(ctx, [gradNormScratchSize(n)], 'f32', undefined, 'gradNorm.scratch');
  }

  /** The mean loss of a batch, without gradients (evaluation). */
  async loss(batch: TokenBatch): Promise<{ loss: number; count: number }> {
    const count = writeBatch(this.buffers, this.model.weights, batch, this.ctx);
    const rec = new Recorder(this.ctx, 'eval');
    recordTrainPass(rec, this.model.weights, this.buffers, { B: batch.B, T: batch.T, count, lora: this.lora });
    rec.submit();
    return { loss: (await readTensor(this.ctx, this.buffers.loss))[0], count };
  }

  /**
   * Gradients of the token-weighted mean loss over all micro-batches (each position counts
   * once, as in transformers' Trainer with num_items_in_batch), left in lora.grads.
   * Returns that mean loss.
   */
  async gradients(microBatches: TokenBatch[]): Promise<number> {
    return (await this.accumulate(microBatches, false)).loss;
  }

  /**
   * gradients(), and with `withNorm` the global gradient norm too: recorded after the last
   * micro-batch's backward pass into this.norm (where AdamW's clipping reads it) and read back
   * with that micro-batch's loss, so the check costs two small dispatches and no extra wait.
   */
  private async accumulate(microBatches: TokenBatch[], withNorm: boolean): Promise<{ loss: number; gradNorm: number }> {
    const counts = microBatches.map((b) => shiftedTargets(b.labels, b.B, b.T).count);
    const total = counts.reduce((a, b) => a + b, 0);
    const zero = new Recorder(this.ctx, 'zero-grads');
    zero.clear(this.lora.grads);
    zero.submit();
    let lossSum = 0;
    let gradientNorm = NaN;
    for (const [i, batch] of microBatches.entries()) {
      const count = writeBatch(this.buffers, this.model.weights, batch, this.ctx);
      const rec = new Recorder(this.ctx, 'train-pass');
      const dropoutStep = dropoutPass(this.step, i);
      const backward = { gradScale: total > 0 ? 1 / total : 0, dropoutStep };
      recordTrainPass(rec, this.model.weights, this.buffers, { B: batch.B, T: batch.T, count, lora: this.lora, backward });
      const last = i === microBatches.length - 1;
      if (withNorm && last) gradNorm(rec, this.norm, this.normScratch, this.lora.grads, { n: this.lora.params.size });
      rec.submit();
      const [loss, norm] = await Promise.all([
        readTensor(this.ctx, this.buffers.loss),
        withNorm && last ? readTensor(this.ctx, this.norm) : null,
      ]);
      lossSum += loss[0] * count;
      if (norm) gradientNorm = norm[0];
    }
    return { loss: total > 0 ? lossSum / total : 0, gradNorm: gradientNorm };
  }

  /** AdamW on the gradients in lora.grads, at learning rate lr. */
  applyOptimizer(lr: number): void {
    this.adamw(lr, false);
  }

  /** AdamW, after computing the gradient norm for clipping unless `normReady` (accumulate() left it in this.norm). */
  private adamw(lr: number, normReady: boolean): void {
    const o = this.optimizer;
    const n = this.lora.params.size;
    this.step += 1;
    const rec = new Recorder(this.ctx, 'adamw');
    if (o.maxGradNorm !== null && !normReady) gradNorm(rec, this.norm, this.normScratch, this.lora.grads, { n });
    adamwStep(rec, this.lora.params, this.lora.grads, this.m, this.v, this.norm, {
      n,
      lr,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: o.eps,
      weightDecay: o.weightDecay,
      step: this.step,
      maxGradNorm: o.maxGradNorm,
    });
    rec.submit();
  }

  /**
   * One optimizer step unless its loss or gradient norm is NaN or ±Infinity: then the update is
   * skipped (params, m and v keep every bit) and only AdamW's step count t moves on, so that t
   * stays the number of steps taken, which dropout's masks and checkpoints rely on
   * (TrainingConfig.maxNonFiniteSteps, ./config.ts, says why a skipped step still counts).
   */
  async tryStep(microBatches: TokenBatch[], lr: number): Promise<StepOutcome> {
    const { loss, gradNorm: norm } = await this.accumulate(microBatches, true);
    const nonFinite: NonFiniteValue | null = !Number.isFinite(loss)
      ? { what: 'loss', value: loss }
      : !Number.isFinite(norm) ? { what: 'gradient', value: norm } : null;
    if (nonFinite) this.step += 1;
    else this.adamw(lr, true);
    return { loss, gradNorm: norm, nonFinite };
  }

  /** One optimizer step: tryStep() (no update when the loss or a gradient is not finite). Returns the loss before the update. */
  async train(microBatches: TokenBatch[], lr: number): Promise<number> {
    return (await this.tryStep(microBatches, lr)).loss;
  }

  /** AdamW's moments, for checkpoints. */
  async optimizerState(): Promise<{ m: Float32Array; v: Float32Array; step: number }> {
    return { m: await readTensor(this.ctx, this.m), v: await readTensor(this.ctx, this.v), step: this.step };
  }

  restoreOptimizerState(s: { m: Float32Array; v: Float32Array; step: number }): void {
    if (s.m.length !== this.m.size || s.v.length !== this.v.size) throw new Error('optimizer state does not match this adapter');
    writeTensor(this.ctx, this.m, s.m);
    writeTensor(this.ctx, this.v, s.v);
    this.step = s.step;
  }

  destroy(): void {
    destroyTrainBuffers(this.buffers);
    for (const t of [this.m, this.v, this.norm, this.normScratch]) t.destroy();
  }
}

/**
 * The number of a training pass for LoRA dropout's masks: micro-batch i of the gradients taken
 * after `step` optimizer steps. It depends only on the optimizer step (which checkpoints restore),
 * so a resumed run draws the masks it would have drawn; distinct for up to 4096 micro-batches per
 * step (and 2²⁰ steps, after which it wraps mod 2³²).
 */
export function dropoutPass(step: number, microBatch: number): number {
  return (step * 4096 + (microBatch % 4096)) % 2 ** 32;
}
