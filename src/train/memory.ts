// How much GPU memory a training run needs, before any of it is allocated: the frozen weights,
// the adapter with its gradient and AdamW's two moments, and the activation and gradient buffers
// of one step (batch B, sequence T). The activations are the bytes of the very plan that
// createTrainBuffers allocates (model/train-buffer-plan.ts planTrainBuffers), so the two cannot
// differ; the weights count 4 bytes an element (2 for weight matrices stored as f16;
// test/model/f16-weights.test.ts checks them against a model's upload), and
// test/engine/engine.test.ts checks the whole against a training run. With gradient
// checkpointing the blocks' saved activations are one layer's (shared), not L layers'.
// Dimension letters as in model/config.ts; M = B·T.
import { loraParameterCount } from '../lora/adapter.js';
import { resolveLoraModules, type LoraConfig, type LoraModule } from '../lora/config.js';
import type { ModelSpec } from '../model/config.js';
import type { WeightStorage } from '../model/gpu-weights.js';
import { storageBytes } from '../gpu/tensor.js';
import type { ProjectionKind } from '../model/linear.js';
import { plannedBytes, planTrainBuffers, type AdapterShape } from '../model/train-buffer-plan.js';

export interface MemoryEstimate {
  /** The model's weights (and RoPE tables) on the GPU. */
  modelBytes: number;
  /** LoRA A and B, their gradients, and AdamW's first and second moments. */
  adapterBytes: number;
  /** Saved activations, gradient scratch and the loss buffers of one step. */
  activationBytes: number;
  total: number;
  /** The largest single buffer (it must fit the adapter's maxStorageBufferBindingSize). */
  largestBufferBytes: number;
  trainableParameters: number;
}

/**
 * Element counts of the weight matrices that f16 weight storage keeps as halves (model/gpu-weights.ts):
 * the seven projections of every layer, the embedding, an untied head and GPT-2's positions.
 */
function matrixSizes(spec: ModelSpec): number[] {
  const { C, NH, KV, HS, F, V, L } = spec;
  const gpt2 = spec.arch === 'gpt2';
  const layer = [C * NH * HS, C * KV * HS, C * KV * HS, NH * HS * C, ...(gpt2 ? [C * F, C * F] : [C * F, C * F, C * F])];
  return [
    ...Array.from({ length: L }, () => layer).flat(),
    V * C,
    ...(spec.tieWordEmbeddings ? [] : [V * C]),
    ...(gpt2 ? [spec.maxPositions * C] : []),
  ];
}

/** Elements of every weight tensor the model loads (biases, norms, positions, an untied head). */
export function modelElements(spec: ModelSpec): { total: number; largest: number } {
  const { C, NH, KV, HS, F, L } = spec;
  const gpt2 = spec.arch === 'gpt2';
  const norm = gpt2 ? 2 * C : C; // weight (+ bias)
  const perLayerSmall =
    2 * norm +
    (spec.qkvBias ? NH * HS + 2 * KV * HS : 0) +
    (spec.oBias ? C : 0) +
    (spec.qkNorm ? 2 * HS : 0) +
    (spec.mlpBias ? (gpt2 ? F : 2 * F) + C : 0);
  const rope = gpt2 ? 0 : spec.maxPositions * HS; // cos and sin tables, [P, HS/2] each
  const matrices = matrixSizes(spec);
  return { total: matrices.reduce((a, b) => a + b, 0) + rope + norm + L * perLayerSmall, largest: Math.max(...matrices) };
}

/** Bytes of the model's weights on the GPU with f32 or f16 storage of its matrices (the rest stays f32). */
export function modelBytes(spec: ModelSpec, weightStorage: WeightStorage = 'f32'): number {
  const all = 4 * modelElements(spec).total;
  if (weightStorage === 'f32') return all;
  return matrixSizes(spec).reduce((bytes, n) => bytes - 4 * n + storageBytes('f16', n), all);
}

export interface MemoryEstimateOptions {
  /** Gradient checkpointing (TrainingConfig.gradientCheckpointing): one layer's block activations instead of L. */
  gradientCheckpointing?: boolean;
  /** How the model's weight matrices are stored (LanguageModel.load's weightStorage); default f32. */
  weightStorage?: WeightStorage;
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
  const plan = planTrainBuffers(spec, B, T, loraAdapterShape(lora, modules), { checkpoint: opts.gradientCheckpointing ?? false });
  const activations = plannedBytes(plan);

  const weights = modelElements(spec);
  const storage = opts.weightStorage ?? 'f32';
  const weightBytes = modelBytes(spec, storage);
  // A and B in one flat buffer, its gradient and AdamW's two moments: 4 buffers of 4-byte elements.
  const adapterBytes = 4 * 4 * trainableParameters;
  return {
    modelBytes: weightBytes,
    adapterBytes,
    activationBytes: activations.total,
    total: weightBytes + adapterBytes + activations.total,
    largestBufferBytes: Math.max(storageBytes(storage, weights.largest), activations.largest, 4 * trainableParameters),
    trainableParameters,
  };
}
