// This engine's side of the benchmark: TrainStep (forward + loss + backward + AdamW) with LoRA on
// a loaded model, timed step by step (bench/interleave.ts runs the steps), its GPU memory from the tensor accounting, what recording
// one step takes (submits, dispatches, new bind groups, CPU time), and the GPU time of each kernel
// from one extra, profiled step.
import type { GpuContext } from '../src/gpu/device.js';
import { diffRecordStats, recordStats, type RecordStats } from '../src/gpu/kernel.js';
import { disableProfiling, enableProfiling, takeProfile } from '../src/gpu/profile.js';
import { gpuMemory, resetPeak } from '../src/gpu/tensor.js';
import { initLoraAdapter } from '../src/lora/adapter.js';
import { GpuLora } from '../src/lora/gpu-lora.js';
import { LanguageModel } from '../src/model/model.js';
import { bindingLimit } from '../src/model/vocab-blocks.js';
import type { ModelSource } from '../src/model/source.js';
import type { TokenBatch } from '../src/model/train-pass.js';
import { TrainStep } from '../src/train/step.js';
import { estimateTrainingMemory } from '../src/train/memory.js';
import { BENCH_LORA, LEARNING_RATE, median, randomBatch, SEED, type EngineSettings, type Shape, type SideResult } from './common.js';

export interface KernelRow {
  name: string;
  calls: number;
  /** Summed GPU time of its dispatches in the profiled step. */
  ms: number;
}

export interface EngineResult extends SideResult {
  /** The fastest and the slowest timed step, milliseconds: the spread around step_ms. */
  step_ms_range: [number, number];
  /** Tracked bytes of the model's weights on the GPU in their storage (RoPE tables included), as loaded. */
  weights_bytes: number;
  trainable_parameters: number;
  /** Recorder submits in the last timed step (src/gpu/kernel.ts recordStats). */
  submits_per_step: number;
  /** Kernel launches in the last timed step. */
  dispatches_per_step: number;
  /** Bind groups the last timed step had to create (the rest came from the cache: src/gpu/bind-cache.ts). */
  bind_groups_created_per_step: number;
  /** CPU milliseconds spent recording and submitting the last timed step (inside Recorder). */
  record_ms: number;
  /** Kernels of one profiled step, most GPU time first (absent when the device cannot time them). */
  kernels?: KernelRow[];
  /** The sum of `kernels`' times: the GPU's busy time in one step, without launch and sync gaps. */
  kernels_total_ms?: number;
  /** Wall-clock time of the profiled step (each dispatch in a timed pass of its own: slower than step_ms). */
  profiled_step_ms?: number;
  /** Why there are no kernel times. */
  kernels_reason?: string;
}

export type EngineOutcome = EngineResult | { error: string };

/** A model on the GPU, the tensor bytes that were in use before it was loaded, and the bytes it holds. */
export interface LoadedModel {
  model: LanguageModel;
  bytesBefore: number;
  /** Tracked bytes of the model's tensors (weights in their storage, RoPE tables), as loaded. */
  weightsBytes: number;
}

export async function loadEngineModel(ctx: GpuContext, source: ModelSource, settings: EngineSettings): Promise<LoadedModel> {
  const bytesBefore = gpuMemory(ctx).current;
  const model = await LanguageModel.load(ctx, source, undefined, { weightStorage: settings.weightStorage });
  return { model, bytesBefore, weightsBytes: gpuMemory(ctx).current - bytesBefore };
}

/** The training memory of one shape without running a step: what TrainStep allocates, and the estimate. */
export interface MemoryPlan {
  model: string;
  batch: number;
  seq: number;
  /** Tracked bytes held once the model, the adapter with its optimizer state and the step's buffers are allocated. */
  peak_bytes: number;
  /** estimateTrainingMemory's total for the same settings (train/memory.ts). */
  estimated_bytes: number;
  /** Tracked bytes of the model's weights on the GPU (in --weights' storage, RoPE tables included): the estimate's modelBytes. */
  weights_bytes: number;
  /** The storage of the model's frozen weights (one of --weights' formats). */
  engine_weights: string;
}

/**
 * Allocates what a training step of `shape` needs (the adapter, its gradients and AdamW moments,
 * the activation and gradient buffers), reads the tracked bytes, and frees it all again: the
 * memory a step would use, measured where running one is too slow (SwiftShader at real shapes).
 */
export function planEngineMemory(ctx: GpuContext, name: string, loaded: LoadedModel, shape: Shape, settings: EngineSettings): MemoryPlan {
  const { model, bytesBefore } = loaded;
  resetPeak(ctx);
  const lora = GpuLora.create(ctx, initLoraAdapter(model.spec, BENCH_LORA, SEED, 'benchmark'));
  try {
    const step = new TrainStep(ctx, model, lora, shape.batch, shape.seq, undefined, { gradientCheckpointing: settings.gradientCheckpointing });
    step.destroy();
  } finally {
    lora.destroy();
  }
  // The device's binding limit plans the vocabulary blocks and the logits chunk, as TrainStep and the upload plan them.
  const estimate = estimateTrainingMemory(model.spec, BENCH_LORA, shape.batch, shape.seq, { ...settings, maxBindingBytes: bindingLimit(ctx) });
  return { model: name, batch: shape.batch, seq: shape.seq, peak_bytes: gpuMemory(ctx).peak - bytesBefore, estimated_bytes: estimate.total, weights_bytes: loaded.weightsBytes, engine_weights: settings.weightStorage };
}

/**
 * One format's training step, set up for one shape on its loaded model (the adapter, its AdamW
 * state and the step's buffers allocated), to be stepped by bench/interleave.ts, alone or in turn
 * with other formats' sessions. Each step is awaited until the GPU has finished it (its AdamW
 * included) and timed by wall clock. peak_bytes is this session's own: its model's bytes plus the
 * most that its set-up and its steps held at once beyond them, whatever other sessions hold
 * meanwhile (with one session it is the peak since the model began loading, as before).
 */
export class EngineSession {
  /** Every step's loss, warm-up ones included. */
  readonly losses: number[] = [];
  /** The timed steps' milliseconds. */
  readonly timedMs: number[] = [];
  /** The recording counters of the latest step (warm once its pipelines and bind groups are cached). */
  private counted: RecordStats | undefined;
  /** Bytes this session holds: its model's, the adapter's and the step's. */
  private ownBytes: number;
  private ownPeak: number;

  private constructor(
    private readonly ctx: GpuContext,
    readonly loaded: LoadedModel,
    readonly shape: Shape,
    private readonly lora: GpuLora,
    private readonly step: TrainStep,
    private readonly tokens: TokenBatch,
    ownBytes: number,
    ownPeak: number,
  ) {
    this.ownBytes = ownBytes;
    this.ownPeak = ownPeak;
  }

  static open(ctx: GpuContext, loaded: LoadedModel, shape: Shape, settings: EngineSettings): EngineSession {
    const { model } = loaded;
    const { batch: B, seq: T } = shape;
    const before = gpuMemory(ctx).current;
    resetPeak(ctx);
    const lora = GpuLora.create(ctx, initLoraAdapter(model.spec, BENCH_LORA, SEED, 'benchmark'));
    let step: TrainStep;
    try {
      step = new TrainStep(ctx, model, lora, B, T, undefined, { gradientCheckpointing: settings.gradientCheckpointing });
    } catch (e) {
      lora.destroy();
      throw e;
    }
    const { ids, labels } = randomBatch(B, T, model.spec.V);
    const tokens: TokenBatch = { B, T, ids, labels, attentionMask: new Int32Array(B * T).fill(1) };
    const m = gpuMemory(ctx);
    return new EngineSession(ctx, loaded, shape, lora, step, tokens, loaded.weightsBytes + m.current - before, loaded.weightsBytes + m.peak - before);
  }

  /** One optimizer step (timed unless a warm-up step): its loss. */
  async train(timed: boolean): Promise<number> {
    const memory = gpuMemory(this.ctx);
    const heldBefore = memory.current;
    resetPeak(this.ctx);
    const stats = recordStats(this.ctx);
    const start = performance.now();
    const loss = await this.untimedStep();
    const took = performance.now() - start;
    this.counted = diffRecordStats(recordStats(this.ctx), stats);
    this.ownPeak = Math.max(this.ownPeak, this.ownBytes + memory.peak - heldBefore);
    this.ownBytes += memory.current - heldBefore;
    this.losses.push(loss);
    if (timed) this.timedMs.push(took);
    return loss;
  }

  private async untimedStep(): Promise<number> {
    const loss = await this.step.train([this.tokens], LEARNING_RATE);
    await this.ctx.device.queue.onSubmittedWorkDone();
    return loss;
  }

  /** The figures of the steps so far; with `profile`, one more step with kernel timing on first. */
  async result(profile: boolean): Promise<EngineResult> {
    const { batch: B, seq: T } = this.shape;
    if (!this.losses.every(Number.isFinite)) throw new Error(`a loss is not finite (${this.losses.join(', ')})`);
    if (!this.timedMs.length || !this.counted) throw new Error('no timed step was run');
    const stepMs = median(this.timedMs);
    const counted = this.counted;
    const result: EngineResult = {
      step_ms: stepMs,
      tokens_per_s: (B * T) / (stepMs / 1000),
      peak_bytes: this.ownPeak,
      steps_ms: [...this.timedMs],
      first_loss: this.losses[0],
      last_loss: this.losses[this.losses.length - 1],
      step_ms_range: [Math.min(...this.timedMs), Math.max(...this.timedMs)],
      weights_bytes: this.loaded.weightsBytes,
      trainable_parameters: this.lora.trainableParameters,
      submits_per_step: counted.submits,
      dispatches_per_step: counted.dispatches,
      bind_groups_created_per_step: counted.bindGroupsCreated,
      record_ms: counted.recordMs,
    };
    if (profile) Object.assign(result, await profiledStep(this.ctx, () => this.untimedStep()));
    return result;
  }

  destroy(): void {
    this.step.destroy();
    this.lora.destroy();
  }
}

async function profiledStep(ctx: GpuContext, oneStep: () => Promise<number>): Promise<Partial<EngineResult>> {
  const reason = enableProfiling(ctx);
  if (reason) return { kernels_reason: reason };
  const start = performance.now();
  try {
    await oneStep();
  } finally {
    disableProfiling(ctx);
  }
  const wall = performance.now() - start;
  const profile = await takeProfile(ctx);
  if (profile.reason) return { kernels_reason: profile.reason };
  const kernels = [...profile.times].map(([name, t]) => ({ name, calls: t.calls, ms: t.ms })).sort((a, b) => b.ms - a.ms);
  return { kernels, kernels_total_ms: kernels.reduce((s, k) => s + k.ms, 0), profiled_step_ms: wall };
}
