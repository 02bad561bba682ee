// How much GPU memory a training run needs, before any of it is allocated: the frozen weights,
// the adapter with its gradient and AdamW's two moments, and the activation and gradient buffers
// of one step (batch B, sequence T). The activations are the bytes of the very plan that
// createTrainBuffers allocates (model/train-buffer-plan.ts planTrainBuffers), so the two cannot
// differ. Likewise the model's bytes are those of the plan of its weights and RoPE tables
// (model/gpu-weights.ts planWeights: 4 bytes an element, 2 for the matrices stored as f16) that
// uploadWeights and LanguageModel.load allocate (test/model/weights-plan.test.ts checks a model's
// upload against it), and test/engine/engine.test.ts checks the whole against a training run. With gradient
// checkpointing the blocks' saved activations are one layer's (shared), not L layers', and the
// logits chunk keeps its small size at any batch (model/train-buffer-plan.ts logitsChunkRows).
// Dimension letters as in model/config.ts; M = B·T.
import { gradNormScratchSize } from '../gpu/kernels/adamw.js';
import { loraParameterCount } from '../lora/adapter.js';
import { loraLayout } from '../lora/gpu-lora.js';
import { resolveLoraModules, type LoraConfig, type LoraModule } from '../lora/config.js';
import type { ModelSpec } from '../model/config.js';
import { planWeights, type WeightStorage } from '../model/gpu-weights.js';
import type { ProjectionKind } from '../model/linear.js';
import { plannedBytes, plannedTensors, planTrainBuffers, type AdapterShape } from '../model/train-buffer-plan.js';

export interface MemoryEstimate {
  /** The model's weights (and RoPE tables) on the GPU. */
  modelBytes: number;
  /** LoRA A and B, their gradients, AdamW's first and second moments, and the gradient norm's scratch. */
  adapterBytes: number;
  /** Saved activations, gradient scratch and the loss buffers of one step. */
  activationBytes: number;
  total: number;
  /** The largest single buffer (it must fit the adapter's maxStorageBufferBindingSize). */
  largestBufferBytes: number;
  trainableParameters: number;
}

/**
 * Elements of every tensor the model puts on the GPU (model/gpu-weights.ts planWeights: weights,
 * biases, norms, GPT-2's positions, an untied head and the RoPE tables), and of the largest one.
 */
export function modelElements(spec: ModelSpec): { total: number; largest: number } {
  const sizes = plannedTensors(planWeights(spec)).map((t) => t.shape.reduce((a, b) => a * b, 1));
  return { total: sizes.reduce((a, b) => a + b, 0), largest: Math.max(0, ...sizes) };
}

/** The model's parameters: the elements of its planned tensors without the RoPE tables (which are not weights). */
export function modelParameterCount(spec: ModelSpec): number {
  const plan = planWeights(spec);
  const rope = [plan.ropeCos, plan.ropeSin].reduce((n, t) => n + (t ? t.shape.reduce((a, b) => a * b, 1) : 0), 0);
  return modelElements(spec).total - rope;
}

/** Bytes of the model's tensors on the GPU with f32 or f16 storage of its matrices (the rest stays f32). */
export function modelBytes(spec: ModelSpec, weightStorage: WeightStorage = 'f32'): number {
  return plannedBytes(planWeights(spec, weightStorage)).total;
}

export interface MemoryEstimateOptions {
  /** Gradient checkpointing (TrainingConfig.gradientCheckpointing): one layer's block activations instead of L. */
  gradientCheckpointing?: boolean;
  /** How the model's weight matrices are stored (LanguageModel.load's weightStorage); default f32. */
  weightStorage?: WeightStorage;
  /**
   * The device's minStorageBufferOffsetAlignment in bytes, which pads the adapter's segments
   * (lora/gpu-lora.ts loraLayout); default 256, WebGPU's default limit.
   */
  storageOffsetAlignment?: number;
  /**
   * The device's largest binding in bytes (model/vocab-blocks.ts bindingLimit): a vocabulary
   * matrix larger than that is planned in blocks of rows, and the logits chunk within it, as the
   * device allocates them. Default none: every matrix one buffer.
   */
  maxBindingBytes?: number;
}

/**
 * The plan's view of a LoRA config (what GpuLora.create makes of it): a u buffer for each adapted
 * projection kind (GPT-2's fused c_attn adapts q, k and v), rank r, and with dropout the widest
 * input of an adapted module.
 */
export function loraAdapterShape(lora: LoraConfig, modules: LoraModule[]): AdapterShape {
  const kinds = new Set<ProjectionKind>(modules.flatMap((m) => (m.kind === 'qkv' ? (['q', 'k', 'v'] as const) : [m.kind])));
  const dropoutWidth = lora.dropout > 0 ? Math.max(0, ...modules.map((m) => m.inFeatures)) : 0;
  return { kinds: [...kinds], R: lora.r, dropoutWidth };
}

/** The memory of training `lora` on `spec` with micro-batches of B rows of up to T tokens. */
export function estimateTrainingMemory(spec: ModelSpec, lora: LoraConfig, B: number, T: number, opts: MemoryEstimateOptions = {}): MemoryEstimate {
  const modules = resolveLoraModules(spec, lora);
  const trainableParameters = loraParameterCount({ config: lora, modules });
  const plan = planTrainBuffers(spec, B, T, loraAdapterShape(lora, modules), { checkpoint: opts.gradientCheckpointing ?? false, maxBindingBytes: opts.maxBindingBytes });
  const activations = plannedBytes(plan);

  const weights = plannedBytes(planWeights(spec, opts.weightStorage ?? 'f32', opts.maxBindingBytes));
  // A and B in one flat buffer laid out as GpuLora lays it out, its gradient and AdamW's two
  // moments (4 buffers of that length), and the gradient norm with its scratch (step.ts).
  const { elements } = loraLayout(modules, lora.r, (opts.storageOffsetAlignment ?? 256) / 4);
  const adapterBytes = 4 * (4 * elements + 1 + gradNormScratchSize(elements));
  return {
    modelBytes: weights.total,
    adapterBytes,
    activationBytes: activations.total,
    total: weights.total + adapterBytes + activations.total,
    largestBufferBytes: Math.max(weights.largest, activations.largest, 4 * elements),
    trainableParameters,
  };
}
