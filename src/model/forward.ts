// The forward pass for inference: B rows, T new positions per call, keys and values kept in a
// KV cache of S positions per layer. One set of block buffers serves every layer.
//
// Dimension letters as in ./block.ts. embed → L × block (./block.ts) → final norm → LM head (the
// embedding matrix when tied); only the last position's logits are computed unless all are asked for.
import type { GpuContext } from '../gpu/device.js';
import { Recorder } from '../gpu/kernel.js';
import { copyRows } from '../gpu/kernels/copy-rows.js';
import { assertTokenIds } from '../gpu/kernels/embedding.js';
import { createTensor, readTensor, writeTensor, type Tensor } from '../gpu/tensor.js';
import { blockForward, normForward } from './block.js';
import type { ModelSpec } from './config.js';
import { embedTokens, headLogits } from './ends.js';
import { adaptedKinds, createLayerBuffers, destroyLayerBuffers, type ForwardWeights, type LayerBuffers } from './layer.js';
import type { LowRankUpdates } from './linear.js';

export type { ForwardWeights } from './layer.js';
// The block buffers' home is ./layer.ts; test/train/checkpointing.test.ts still imports them from here.

/** Buffers for one batch of B sequences of up to S positions, allocated once. */
export interface InferenceState {
  B: number;
  S: number;
  /** Positions already in the cache (the next call starts at this position). */
  length: number;
  ids: Tensor<'u32'>; // [B, S]
  mask: Tensor<'u32'>; // [B, S], 1 for real tokens, 0 for padding
  kCache: Tensor<'f32'>[]; // L × [B, S, KV, HS]
  vCache: Tensor<'f32'>[]; // L × [B, S, KV, HS]
  x: Tensor<'f32'>; // [B, S, C] residual stream
  block: LayerBuffers; // shared by all layers, sized for T = S
  hF: Tensor<'f32'>; // [B, S, C] after the final norm
  last: Tensor<'f32'>; // [B, C] normed last position of each row
  logitsLast: Tensor<'f32'>; // [B, V]
  logitsAll?: Tensor<'f32'>; // [B, S, V], allocated on the first request for all positions
}

export function createInferenceState(ctx: GpuContext, spec: ModelSpec, B: number, S: number, lora?: LowRankUpdates): InferenceState {
  const { C, KV, HS, V, L } = spec;
  const f = (shape: number[], label: string) => createTensor(ctx, shape, 'f32', undefined, label);
  const { kinds, R } = adaptedKinds(spec, lora);
  return {
    B,
    S,
    length: 0,
    ids: createTensor(ctx, [B, S], 'u32', undefined, 'ids'),
    mask: createTensor(ctx, [B, S], 'u32', undefined, 'mask'),
    kCache: Array.from({ length: L }, (_, l) => f([B, S, KV, HS], `kCache.${l}`)),
    vCache: Array.from({ length: L }, (_, l) => f([B, S, KV, HS], `vCache.${l}`)),
    x: f([B, S, C], 'x'),
    block: createLayerBuffers(ctx, spec, B, S, R, kinds, 'block'),
    hF: f([B, S, C], 'hF'),
    last: f([B, C], 'last'),
    logitsLast: f([B, V], 'logitsLast'),
  };
}

export function destroyInferenceState(st: InferenceState): void {
  destroyLayerBuffers(st.block);
  for (const [key, v] of Object.entries(st)) {
    if (key === 'block') continue;
    if (Array.isArray(v)) v.forEach((t) => t.destroy());
    else if (v && typeof v === 'object' && 'destroy' in v) (v as Tensor).destroy();
  }
}

/**
 * Run T new positions of every row through the model (with an optional low-rank adapter),
 * appending them to the KV cache. `ids` is [B, T] row-major; `mask` is [B, S] for the whole cache
 * (1 = real token), or omitted for all ones. Returns the logits of the last new position of each
 * row, [B, V], or of every new position, [B, T, V], when `allLogits` is set.
 */
export async function forward(
  ctx: GpuContext,
  m: ForwardWeights,
  st: InferenceState,
  ids: ArrayLike<number>,
  T: number,
  opts: { mask?: ArrayLike<number>; allLogits?: boolean; lora?: LowRankUpdates } = {},
): Promise<Float32Array> {
  const { spec } = m;
  const { B, S } = st;
  const pos0 = st.length;
  if (ids.length !== B * T) throw new Error(`forward: ${ids.length} ids given for B=${B}, T=${T}`);
  if (pos0 + T > S) throw new Error(`forward: positions ${pos0}..${pos0 + T - 1} do not fit the cache of ${S} positions`);
  if (pos0 + T > spec.maxPositions) {
    throw new Error(`forward: position ${pos0 + T - 1} is past the model's maximum of ${spec.maxPositions} positions`);
  }
  assertTokenIds(ids, spec.V);

  writeTensor(ctx, st.ids, ids);
  if (opts.mask) {
    if (opts.mask.length !== B * S) throw new Error(`forward: mask has ${opts.mask.length} entries, expected B·S = ${B * S}`);
    writeTensor(ctx, st.mask, opts.mask);
  } else if (pos0 === 0) {
    writeTensor(ctx, st.mask, new Uint32Array(B * S).fill(1));
  }

  const rec = new Recorder(ctx, 'forward');
  const M = B * T;
  const { C, V } = spec;
  embedTokens(rec, m, st.x, st.ids, { B, T, pos0 });
  for (let l = 0; l < spec.L; l++) {
    // The residual stream st.x is updated in place; keys and values go into layer l's cache.
    const cache = { k: st.kCache[l], v: st.vCache[l] };
    blockForward(rec, m, l, { out: st.x, x: st.x, mask: st.mask, buf: st.block, dims: { B, T, S, pos0 }, lora: opts.lora, cache });
  }
  // The final norm's mean and rstd go to the block's (free by now).
  const b = st.block;
  normForward(rec, spec, { out: st.hF, mean: b.mean1, rstd: b.rstd1, input: st.x, weight: m.weights.finalNorm, bias: m.weights.finalNormBias, rows: M });
  let logits: Tensor<'f32'>;
  if (opts.allLogits) {
    st.logitsAll ??= createTensor(ctx, [B, S, V], 'f32', undefined, 'logitsAll');
    logits = st.logitsAll;
    headLogits(rec, m, logits, st.hF, M);
  } else {
    copyRows(rec, st.last, st.hF, { B, n: 1, C, inT: T, inStart: T - 1, outT: 1, outStart: 0 });
    logits = st.logitsLast;
    headLogits(rec, m, logits, st.last, B);
  }
  rec.submit();
  st.length = pos0 + T;
  return readTensor(ctx, logits, 0, (opts.allLogits ? M : B) * V);
}
