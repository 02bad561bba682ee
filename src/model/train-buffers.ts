// Every buffer a training step needs, planned once from (model, B, T, adapter) and reused by
// every step: the saved activations of each layer (llm.c's ActivationTensors), the gradient
// scratch that backward passes from layer to layer, and the chunked loss buffers.
// Steps with fewer rows (B·T below the planned maximum) use a prefix of each buffer.
// With gradient checkpointing, one set of block activations serves every layer (the backward
// pass recomputes each layer's into it from the saved residual stream, see ./train-pass.ts),
// so the activation memory of the blocks is that of one layer instead of L.
import type { GpuContext } from '../gpu/device.js';
import { attentionBackwardScratchShape } from '../gpu/kernels/attention.js';
import { createTensor, type Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import { adaptedKinds, createLayerBuffers, destroyLayerBuffers } from './forward.js';
import type { LayerBuffers } from './layer.js';
import type { LowRankUpdates, ProjectionKind } from './linear.js';

export interface TrainBuffers {
  B: number; // planned maximum batch
  T: number; // planned maximum sequence length
  ids: Tensor<'u32'>; // [B, T]
  mask: Tensor<'u32'>; // [B, T]
  targets: Tensor<'i32'>; // [B·T]: the targets of the labelled positions, packed (the first `count`)
  lossRows: Tensor<'u32'>; // [B·T]: the labelled positions b·T + t, in order (the first `count`)
  /** The CPU copy of lossRows' first `count` entries, set by writeBatch. */
  lossRowIndices: Uint32Array;
  res: Tensor<'f32'>[]; // (L + 1) × [B·T, C]: the residual stream entering each layer, and the last one's output
  /** Whether the blocks' activations are recomputed in backward (gradient checkpointing). */
  checkpoint: boolean;
  layers: LayerBuffers[]; // L × saved block activations; with checkpoint, 1 × shared by every layer (use blockBuffers)
  hF: Tensor<'f32'>; // [B·T, C] after the final norm
  meanF: Tensor<'f32'>; // [B·T]
  rstdF: Tensor<'f32'>; // [B·T]
  logitsChunk: Tensor<'f32'>; // [chunkRows, V], logits then their gradient
  chunkRows: number;
  losses: Tensor<'f32'>; // [B·T] the loss of each labelled position (packed)
  lseCE: Tensor<'f32'>; // [B·T] the log-sum-exp of each labelled position's logits (packed)
  loss: Tensor<'f32'>; // [1]
  // Gradient scratch, shared by all layers.
  dRes: Tensor<'f32'>; // [B·T, C] d loss / d residual stream
  dH: Tensor<'f32'>; // [B·T, C] d loss / d normed block input
  dAtt: Tensor<'f32'>; // [B·T, NH·HS]
  dQ: Tensor<'f32'>; // [B·T, NH·HS]
  dQ2: Tensor<'f32'>; // [B·T, NH·HS]
  dK: Tensor<'f32'>; // [B·T, KV·HS]
  dK2: Tensor<'f32'>; // [B·T, KV·HS]
  dV: Tensor<'f32'>; // [B·T, KV·HS]
  dAct: Tensor<'f32'>; // [B·T, F]
  dGate: Tensor<'f32'>; // [B·T, F]
  dUp: Tensor<'f32'>; // [B·T, F]
  dU: Tensor<'f32'>; // [B·T, R]
  attScratch: Tensor<'f32'>; // [B, NH, T, 2]
  /** [B·T, Kmax] x̃ of LoRA dropout (and then du·A), only when some update has dropout p > 0. */
  dropScratch?: Tensor<'f32'>;
  /** [1] u32: the pass number that picks LoRA dropout's masks, with dropScratch. */
  dropStep?: Tensor<'u32'>;
}

/**
 * Rows of logits computed at once: a multiple of 64 (so chunk views stay aligned), about 16 MiB of
 * logits (at least 64 rows), and no more than the rows there are. A large batch (at least
 * 4 · LOGITS_CHUNK_MIN_ROWS rows) takes at least LOGITS_CHUNK_MIN_ROWS, so that on GPUs the LM
 * head, the largest product of small models, runs on the 128 × 128-tiled kernel (TILE128_MIN_SIDE)
 * rather than the 64 × 64 one; there the other buffers dwarf the chunk (256 rows are 48 MiB of
 * logits at SmolLM2's 49,152 tokens, 148 MiB at Qwen2.5's 151,936), while a small batch keeps its
 * memory lean.
 */
export function logitsChunkRows(V: number, rows: number): number {
  const least = rows >= 4 * LOGITS_CHUNK_MIN_ROWS ? LOGITS_CHUNK_MIN_ROWS : 64;
  const budget = Math.max(least, Math.floor((4 << 20) / V / 64) * 64);
  return Math.min(budget, Math.ceil(rows / 64) * 64);
}

/** The fewest rows of a large batch's logits chunk (logitsChunkRows). */
export const LOGITS_CHUNK_MIN_ROWS = 256;

/** The widest input K of a projection whose update drops its input, or 0 when none does. */
export function dropoutWidth(spec: ModelSpec, lora: LowRankUpdates | undefined): number {
  const inputWidth: Record<ProjectionKind, number> = { q: spec.C, k: spec.C, v: spec.C, o: spec.NH * spec.HS, gate: spec.C, up: spec.C, down: spec.F };
  let K = 0;
  for (let l = 0; l < spec.L; l++) {
    for (const kind of Object.keys(inputWidth) as ProjectionKind[]) {
      if ((lora?.slot(l, kind)?.dropout?.p ?? 0) > 0) K = Math.max(K, inputWidth[kind]);
    }
  }
  return K;
}

/** Where layer l's block activations live: its own buffers, or the shared ones when checkpointing. */
export function blockBuffers(tb: TrainBuffers, l: number): LayerBuffers {
  return tb.layers[tb.checkpoint ? 0 : l];
}

export interface TrainBufferOptions {
  /** Gradient checkpointing: plan one LayerBuffers for all layers instead of one each. Default false. */
  checkpoint?: boolean;
}

export function createTrainBuffers(
  ctx: GpuContext,
  spec: ModelSpec,
  B: number,
  T: number,
  lora: LowRankUpdates | undefined,
  { checkpoint = false }: TrainBufferOptions = {},
): TrainBuffers {
  const { C, NH, KV, HS, F, V, L } = spec;
  const M = B * T;
  const f = (shape: number[], label: string) => createTensor(ctx, shape, 'f32', undefined, label);
  const { kinds, R } = adaptedKinds(spec, lora);
  const chunkRows = logitsChunkRows(V, M);
  const dropK = dropoutWidth(spec, lora);
  return {
    B,
    T,
    ids: createTensor(ctx, [B, T], 'u32', undefined, 'ids'),
    mask: createTensor(ctx, [B, T], 'u32', undefined, 'mask'),
    targets: createTensor(ctx, [M], 'i32', undefined, 'targets'),
    lossRows: createTensor(ctx, [M], 'u32', undefined, 'lossRows'),
    lossRowIndices: new Uint32Array(0),
    res: Array.from({ length: L + 1 }, (_, l) => f([M, C], `res.${l}`)),
    checkpoint,
    layers: checkpoint
      ? [createLayerBuffers(ctx, spec, B, T, R, kinds, 'layer.shared')]
      : Array.from({ length: L }, (_, l) => createLayerBuffers(ctx, spec, B, T, R, kinds, `layer.${l}`)),
    hF: f([M, C], 'hF'),
    meanF: f([M], 'meanF'),
    rstdF: f([M], 'rstdF'),
    logitsChunk: f([chunkRows, V], 'logitsChunk'),
    chunkRows,
    losses: f([M], 'losses'),
    lseCE: f([M], 'lseCE'),
    loss: f([1], 'loss'),
    dRes: f([M, C], 'dRes'),
    dH: f([M, C], 'dH'),
    dAtt: f([M, NH * HS], 'dAtt'),
    dQ: f([M, NH * HS], 'dQ'),
    dQ2: f([M, NH * HS], 'dQ2'),
    dK: f([M, KV * HS], 'dK'),
    dK2: f([M, KV * HS], 'dK2'),
    dV: f([M, KV * HS], 'dV'),
    dAct: f([M, F], 'dAct'),
    dGate: f([M, F], 'dGate'),
    dUp: f([M, F], 'dUp'),
    dU: f([M, R], 'dU'),
    attScratch: f(attentionBackwardScratchShape({ B, T, NH, KV, HS }), 'attScratch'),
    ...(dropK > 0 ? { dropScratch: f([M, dropK], 'dropScratch'), dropStep: createTensor(ctx, [1], 'u32', undefined, 'dropStep') } : {}),
  };
}

export function destroyTrainBuffers(tb: TrainBuffers): void {
  tb.layers.forEach(destroyLayerBuffers); // with checkpointing, the one shared set
  for (const [key, v] of Object.entries(tb)) {
    if (key === 'layers') continue;
    if (Array.isArray(v)) v.forEach((t: Tensor) => t.destroy());
    else if (v && typeof v === 'object' && 'destroy' in v) (v as Tensor).destroy();
  }
}
