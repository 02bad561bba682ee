// This engine's side of the benchmark: TrainStep (forward + loss + backward + AdamW) with LoRA on
// a loaded model, timed step by step, its GPU memory from the tensor accounting, what recording
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
import { BENCH_LORA, errorText, LEARNING_RATE, median, randomBatch, SEED, timeSteps, type Shape, type SideResult, type Timing, type EngineSettings } from './common.js';

export interface KernelRow {
  name: string;
  calls: number;
  /** Summed GPU time of its dispatches in the profiled step. */
  ms: number;
}

export interface EngineResult extends SideResult {
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
  return { model: name, batch: shape.batch, seq: shape.seq, peak_bytes: gpuMemory(ctx).peak - bytesBefore, estimated_bytes: estimate.total, weights_bytes: loaded.weightsBytes };
}

/**
 * Trains `timing.warmup` steps (pipeline compilation happens in the first), then `timing.steps`
 * timed ones, each awaited until the GPU has finished it (its AdamW included); then, with
 * `profile`, one more step with kernel timing on. peak_bytes counts every tensor held at once
 * since the model began loading: the frozen weights and RoPE tables, the LoRA parameters, their
 * gradients and AdamW moments, and the activation and gradient buffers planned for (batch, seq).
 * GPU errors (out of memory, validation) make the result an error.
 */
export async function benchEngine(
  ctx: GpuContext,
  loaded: LoadedModel,
  shape: Shape,
  timing: Timing,
  profile: boolean,
  settings: EngineSettings,
): Promise<EngineOutcome> {
  const { model, bytesBefore } = loaded;
  const { batch: B, seq: T } = shape;
  const { device } = ctx;
  resetPeak(ctx); // the peak now starts at the loaded model
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let lora: GpuLora | undefined;
  let step: TrainStep | undefined;
  let result: EngineResult | { error: string };
  try {
    const adapter = initLoraAdapter(model.spec, BENCH_LORA, SEED, 'benchmark');
    lora = GpuLora.create(ctx, adapter);
    step = new TrainStep(ctx, model, lora, B, T, undefined, { gradientCheckpointing: settings.gradientCheckpointing });
    const { ids, labels } = randomBatch(B, T, model.spec.V);
    const tokens: TokenBatch = { B, T, ids, labels, attentionMask: new Int32Array(B * T).fill(1) };
    const trainer = step;
    const oneStep = async () => {
      const loss = await trainer.train([tokens], LEARNING_RATE);
      await device.queue.onSubmittedWorkDone();
      return loss;
    };
    // The recording counters of the last timed step: warm (pipelines and bind groups of the
    // earlier steps cached) even without warm-up steps, as long as there are two steps.
    let stepsDone = 0;
    let counted: RecordStats | undefined;
    const countedStep = async () => {
      const before = recordStats(ctx);
      const loss = await oneStep();
      if (++stepsDone === timing.warmup + timing.steps) counted = diffRecordStats(recordStats(ctx), before);
      return loss;
    };
    const losses: number[] = [];
    const ms = await timeSteps(countedStep, timing, (loss) => losses.push(loss));
    if (!losses.every(Number.isFinite)) throw new Error(`a loss is not finite (${losses.join(', ')})`);
    const stepMs = median(ms);
    result = {
      step_ms: stepMs,
      tokens_per_s: (B * T) / (stepMs / 1000),
      peak_bytes: gpuMemory(ctx).peak - bytesBefore,
      steps_ms: ms,
      first_loss: losses[0],
      last_loss: losses[losses.length - 1],
      trainable_parameters: lora.trainableParameters,
      submits_per_step: counted!.submits,
      dispatches_per_step: counted!.dispatches,
      bind_groups_created_per_step: counted!.bindGroupsCreated,
      record_ms: counted!.recordMs,
    };
    if (profile) Object.assign(result, await profiledStep(ctx, oneStep));
  } catch (e) {
    result = { error: errorText(e) };
  } finally {
    step?.destroy();
    lora?.destroy();
  }
  const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((e): e is GPUError => e !== null);
  if (errors.length) return { error: `GPU error: ${errors.map((e) => e.message.split('\n')[0]).join('; ')}` };
  return result;
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
