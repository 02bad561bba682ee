// How much GPU memory a training run needs, before any of it is allocated: the frozen weights,
// the adapter with its gradient and AdamW's two moments, and the activation and gradient buffers
// that model/train-buffers.ts plans for (batch B, sequence T). It counts the same tensors those
// planners create, 4 bytes an element (test/train/memory.test.ts checks it against the bytes a
// real TrainStep allocates). Dimension letters as in model/config.ts; M = B·T.
import { loraParameterCount } from '../lora/adapter.js';
import { resolveLoraModules, type LoraConfig } from '../lora/config.js';
import type { ModelSpec } from '../model/config.js';
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

/** Elements of every weight tensor the model loads (biases, norms, positions, an untied head). */
export function modelElements(spec: ModelSpec): { total: number; largest: number } {
  const { C, NH, KV, HS, F, V, L } = spec;
  const gpt2 = spec.arch === 'gpt2';
  const norm = gpt2 ? 2 * C : C; // weight (+ bias)
  const perLayer =
    2 * norm +
    C * NH * HS + 2 * C * KV * HS + NH * HS * C + // q, k, v, o
    (spec.qkvBias ? NH * HS + 2 * KV * HS : 0) +
    (spec.oBias ? C : 0) +
    (spec.qkNorm ? 2 * HS : 0) +
    (gpt2 ? 2 * C * F : 3 * C * F) + // (gate,) up, down
    (spec.mlpBias ? (gpt2 ? F : 2 * F) + C : 0);
  const embed = V * C;
  const head = spec.tieWordEmbeddings ? 0 : V * C;
  const positions = gpt2 ? spec.maxPositions * C : 0;
  const rope = gpt2 ? 0 : spec.maxPositions * HS; // cos and sin tables, [P, HS/2] each
  return { total: embed + head + positions + rope + norm + L * perLayer, largest: Math.max(embed, positions, C * F) };
}

/** The memory of training `lora` on `spec` with micro-batches of B rows of up to T tokens. */
export function estimateTrainingMemory(spec: ModelSpec, lora: LoraConfig, B: number, T: number): MemoryEstimate {
  const { C, NH, KV, HS, F, V, L } = spec;
  const M = B * T;
  const modules = resolveLoraModules(spec, lora);
  const trainableParameters = loraParameterCount({ config: lora, modules });
  const kinds = new Set(modules.map((m) => m.kind)).size;
  const qk = spec.qkNorm;

  const perLayer =
    M * (5 * C + 4 + 3 * NH * HS + 3 * KV * HS + (spec.arch === 'gpt2' ? 2 * F : 3 * F) + kinds * lora.r) +
    B * NH * T + // lse
    (qk ? M * (NH * HS + KV * HS + NH + KV) : NH * HS + KV * HS + 2);
  const chunkRows = logitsChunkRows(V, M);
  const global =
    3 * M + // ids, mask, targets
    (L + 1) * M * C + // the residual stream
    M * C + 2 * M + // final norm output and statistics
    chunkRows * V + 2 * M + 1 + // logits chunk, per-position loss and lse, the loss
    2 * M * C + 3 * M * NH * HS + 3 * M * KV * HS + 3 * M * F + M * lora.r + // gradient scratch
    B * NH * T * 2 + // attention backward scratch
    (lora.dropout > 0 ? M * Math.max(...modules.map((m) => m.inFeatures)) : 0);

  const weights = modelElements(spec);
  const modelBytes = 4 * weights.total;
  const adapterBytes = 4 * 4 * trainableParameters;
  const activationBytes = 4 * (L * perLayer + global);
  const largest = Math.max(weights.largest, chunkRows * V, M * Math.max(C, F, NH * HS), trainableParameters);
  return {
    modelBytes,
    adapterBytes,
    activationBytes,
    total: modelBytes + adapterBytes + activationBytes,
    largestBufferBytes: 4 * largest,
    trainableParameters,
  };
}
