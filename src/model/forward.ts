// The forward pass for inference: B rows, T new positions per call, keys and values kept in a
// KV cache of S positions per layer. One set of block buffers serves every layer.
//
// Dimension letters as in ./layer.ts. embed → L × block → final norm → LM head (the embedding
// matrix when tied); only the last position's logits are computed unless all are asked for.
import type { GpuContext } from '../gpu/device.js';
import { Recorder } from '../gpu/kernel.js';
import { copyRows } from '../gpu/kernels/copy-rows.js';
import { assertTokenIds, embeddingForward } from '../gpu/kernels/embedding.js';
import { matmulForward } from '../gpu/kernels/matmul.js';
import { createTensor, readTensor, writeTensor, type Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import { layerForward, normForward, type ForwardWeights, type LayerBuffers } from './layer.js';
import type { LowRankUpdates, ProjectionKind } from './linear.js';

export type { ForwardWeights } from './layer.js';

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

/** Block buffers for M rows (B·T), with u buffers of rank R for the projections in `adapted`. */
export function createLayerBuffers(ctx: GpuContext, spec: ModelSpec, B: number, T: number, R: number, adapted: ProjectionKind[], label: string): LayerBuffers {
  const { C, NH, KV, HS, F } = spec;
  const M = B * T;
  const f = (shape: number[], name: string) => createTensor(ctx, shape, 'f32', undefined, `${label}.${name}`);
  const u: LayerBuffers['u'] = {};
  for (const kind of adapted) u[kind] = f([M, R], `u.${kind}`);
  const qk = spec.qkNorm;
  return {
    h1: f([M, C], 'h1'),
    mean1: f([M], 'mean1'),
    rstd1: f([M], 'rstd1'),
    q: f([M, NH * HS], 'q'),
    k: f([M, KV * HS], 'k'),
    v: f([M, KV * HS], 'v'),
    qn: f([qk ? M : 1, NH * HS], 'qn'),
    kn: f([qk ? M : 1, KV * HS], 'kn'),
    rstdQ: f([qk ? M * NH : 1], 'rstdQ'),
    rstdK: f([qk ? M * KV : 1], 'rstdK'),
    qr: f([M, NH * HS], 'qr'),
    kr: f([M, KV * HS], 'kr'),
    att: f([M, NH * HS], 'att'),
    lse: f([B, NH, T], 'lse'),
    proj: f([M, C], 'proj'),
    xMid: f([M, C], 'xMid'),
    h2: f([M, C], 'h2'),
    mean2: f([M], 'mean2'),
    rstd2: f([M], 'rstd2'),
    gate: f([spec.arch === 'gpt2' ? 1 : M, F], 'gate'),
    up: f([M, F], 'up'),
    act: f([M, F], 'act'),
    u,
  };
}

export function destroyLayerBuffers(b: LayerBuffers): void {
  for (const [key, t] of Object.entries(b)) {
    if (key === 'u') Object.values(t as LayerBuffers['u']).forEach((x) => x?.destroy());
    else (t as Tensor).destroy();
  }
}

/** The projection kinds an adapter touches in any layer (they need u buffers). */
export function adaptedKinds(spec: ModelSpec, lora: LowRankUpdates | undefined): { kinds: ProjectionKind[]; R: number } {
  const kinds = new Set<ProjectionKind>();
  let R = 1;
  for (let l = 0; l < spec.L; l++) {
    for (const kind of ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const) {
      const slot = lora?.slot(l, kind);
      if (slot) {
        kinds.add(kind);
        R = slot.R;
      }
    }
  }
  return { kinds: [...kinds], R };
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
  const dims = { B, T, S, pos0 };
  embeddingForward(rec, st.x, st.ids, m.weights.embed, m.weights.positions ?? null, { B, T, C, V, pos0 });
  for (let l = 0; l < spec.L; l++) {
    layerForward(rec, m, opts.lora, l, st.x, st.x, st.mask, st.block, dims, { k: st.kCache[l], v: st.vCache[l] });
  }
  const b = st.block;
  normForward(rec, spec, st.hF, b.mean1, b.rstd1, st.x, m.weights.finalNorm, m.weights.finalNormBias, M);
  let logits: Tensor<'f32'>;
  if (opts.allLogits) {
    st.logitsAll ??= createTensor(ctx, [B, S, V], 'f32', undefined, 'logitsAll');
    logits = st.logitsAll;
    matmulForward(rec, logits, st.hF, m.weights.lmHead, null, { M, N: V, K: C });
  } else {
    copyRows(rec, st.last, st.hF, { B, n: 1, C, inT: T, inStart: T - 1, outT: 1, outStart: 0 });
    logits = st.logitsLast;
    matmulForward(rec, logits, st.last, m.weights.lmHead, null, { M: B, N: V, K: C });
  }
  rec.submit();
  st.length = pos0 + T;
  return readTensor(ctx, logits, 0, (opts.allLogits ? M : B) * V);
}
