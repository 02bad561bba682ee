// How much GPU memory a training run needs, before any of it is allocated: the frozen weights,
// the adapter with its gradient and AdamW's two moments, and the activation and gradient buffers
// that model/train-buffers.ts plans for (batch B, sequence T). It counts the same tensors those
// planners create, 4 bytes an element (2 for weight matrices stored as f16; test/train/checkpointing.test.ts checks the activations
// against the bytes createTrainBuffers allocates, with and without gradient checkpointing, and
// test/engine/engine.test.ts the whole against a training run). With gradient checkpointing the
// blocks' saved activations are one layer's (shared), not L layers'. Dimension letters as in
// model/config.ts; M = B·T.
import { loraParameterCount } from '../lora/adapter.js';
import { resolveLoraModules, type LoraConfig } from '../lora/config.js';
import type { ModelSpec } from '../model/config.js';
import type { WeightStorage } from '../model/gpu-weights.js';
import { storageBytes } from '../gpu/tensor.js';
import { logitsChunkRows } from '../model/train-buffers.js';

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

/** The memory of training `lora` on `spec` with micro-batches of B rows of up to T tokens. */
export function estimateTrainingMemory(spec: ModelSpec, lora: LoraConfig, B: number, T: number, opts: MemoryEstimateOptions = {}): MemoryEstimate {
  const { C, NH, KV, HS, F, V, L } = spec;
  const M = B * T;
  const modules = resolveLoraModules(spec, lora);
  const trainableParameters = loraParameterCount({ config: lora, modules });
  // One u = x·Aᵀ buffer [M, r] per adapted projection kind; GPT-2's fused c_attn counts as q, k and v.
  const kinds = new Set(modules.flatMap((m) => (m.kind === 'qkv' ? ['q', 'k', 'v'] : [m.kind]))).size;
  const qk = spec.qkNorm;
  const savedLayers = opts.gradientCheckpointing ? 1 : L;

  const gpt2 = spec.arch === 'gpt2';
  // One layer's LayerBuffers (model/forward.ts createLayerBuffers).
  const perLayer =
    M * (4 * C + 4) + // h1, proj, xMid, h2; the two norms' mean and rstd
    M * (3 * NH * HS + 3 * KV * HS) + // q, qr, att; k, v, kr
    M * (gpt2 ? 2 * F : 3 * F) + (gpt2 ? F : 0) + // (gate,) up, act; GPT-2's unused gate is one row
    M * kinds * lora.r + // u of each adapted projection
    B * NH * T + // lse
    (qk ? M * (NH * HS + KV * HS + NH + KV) : NH * HS + KV * HS + 2); // qn, kn, rstdQ, rstdK (one row each when unused)
  const chunkRows = logitsChunkRows(V, M);
  const global =
    4 * M + // ids, mask, targets, the labelled positions
    (L + 1) * M * C + // the residual stream
    M * C + 2 * M + // final norm output and statistics
    chunkRows * V + 2 * M + 1 + // logits chunk, per-position loss and lse, the loss
    2 * M * C + 3 * M * NH * HS + 3 * M * KV * HS + 3 * M * F + M * lora.r + // gradient scratch
    B * NH * T * 2 + // attention backward scratch
    (lora.dropout > 0 ? M * Math.max(...modules.map((m) => m.inFeatures)) + 1 : 0); // x̃ scratch and the step

  const weights = modelElements(spec);
  const storage = opts.weightStorage ?? 'f32';
  const weightBytes = modelBytes(spec, storage);
  const adapterBytes = 4 * 4 * trainableParameters;
  const activationBytes = 4 * (savedLayers * perLayer + global);
  const largestActivation = 4 * Math.max(chunkRows * V, M * Math.max(C, F, NH * HS), trainableParameters);
  return {
    modelBytes: weightBytes,
    adapterBytes,
    activationBytes,
    total: weightBytes + adapterBytes + activationBytes,
    largestBufferBytes: Math.max(storageBytes(storage, weights.largest), largestActivation),
    trainableParameters,
  };
}
