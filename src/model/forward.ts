// The forward pass of a decoder-only transformer on the GPU, for inference with a KV cache.
//
// Dimension letters: B batch, T positions in this call, S cache capacity (positions), C model
// width, NH query heads, KV key/value heads, HS head size, F MLP width, V vocabulary, L layers.
//
// Llama family (llama, qwen2, qwen3), pre-norm:
//   h = rmsnorm(x);  q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)
//   qwen3: q, k = rmsnorm_per_head(q), rmsnorm_per_head(k);  q, k = rope(q), rope(k)
//   k, v → cache at positions pos0 .. pos0+T-1;  a = attention(q, cache);  x = x + a·Woᵀ (+bo)
//   h = rmsnorm(x);  x = x + (silu(h·Wgᵀ) ⊙ h·Wuᵀ)·Wdᵀ
// GPT-2: the same with LayerNorm, learned positions added to the embedding, no RoPE, biases on
//   every projection, and the MLP x = x + gelu(h·Wfcᵀ + b)·Wprojᵀ + b.
// Finally h = norm(x) and logits = h·Headᵀ (the embedding matrix when tied).
import type { GpuContext } from '../gpu/device.js';
import { Recorder } from '../gpu/kernel.js';
import { attentionForward } from '../gpu/kernels/attention.js';
import { copyRows } from '../gpu/kernels/copy-rows.js';
import { assertTokenIds, embeddingForward } from '../gpu/kernels/embedding.js';
import { geluForward } from '../gpu/kernels/gelu.js';
import { layernormForward } from '../gpu/kernels/layernorm.js';
import { matmulForward } from '../gpu/kernels/matmul.js';
import { residualForward } from '../gpu/kernels/residual.js';
import { rmsnormForward } from '../gpu/kernels/rmsnorm.js';
import { ropeForward } from '../gpu/kernels/rope.js';
import { swigluForward } from '../gpu/kernels/swiglu.js';
import { createTensor, readTensor, writeTensor, type Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import type { GpuLayerWeights, GpuModelWeights } from './gpu-weights.js';

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
  xMid: Tensor<'f32'>; // [B, S, C] residual stream after attention
  h: Tensor<'f32'>; // [B, S, C] normed input of a sub-block
  mean: Tensor<'f32'>; // [B, S] LayerNorm mean (unused by RMSNorm)
  rstd: Tensor<'f32'>; // [B·S·NH] reciprocal std of a norm (per row, or per head for q/k norm)
  q: Tensor<'f32'>; // [B, S, NH, HS]
  k: Tensor<'f32'>; // [B, S, KV, HS]
  v: Tensor<'f32'>; // [B, S, KV, HS]
  qRot: Tensor<'f32'>; // [B, S, NH, HS] after q-norm / RoPE
  kRot: Tensor<'f32'>; // [B, S, KV, HS] after k-norm / RoPE
  att: Tensor<'f32'>; // [B, S, NH, HS] attention output
  lse: Tensor<'f32'>; // [B, NH, S]
  proj: Tensor<'f32'>; // [B, S, C] output of o_proj / down_proj
  gate: Tensor<'f32'>; // [B, S, F]
  up: Tensor<'f32'>; // [B, S, F]
  act: Tensor<'f32'>; // [B, S, F]
  last: Tensor<'f32'>; // [B, C] normed last position of each row
  logitsLast: Tensor<'f32'>; // [B, V]
  logitsAll?: Tensor<'f32'>; // [B, S, V], allocated on the first request for all positions
}

export function createInferenceState(ctx: GpuContext, spec: ModelSpec, B: number, S: number): InferenceState {
  const { C, NH, KV, HS, F, V, L } = spec;
  const f = (shape: number[], label: string) => createTensor(ctx, shape, 'f32', undefined, label);
  return {
    B,
    S,
    length: 0,
    ids: createTensor(ctx, [B, S], 'u32', undefined, 'ids'),
    mask: createTensor(ctx, [B, S], 'u32', undefined, 'mask'),
    kCache: Array.from({ length: L }, (_, l) => f([B, S, KV, HS], `kCache.${l}`)),
    vCache: Array.from({ length: L }, (_, l) => f([B, S, KV, HS], `vCache.${l}`)),
    x: f([B, S, C], 'x'),
    xMid: f([B, S, C], 'xMid'),
    h: f([B, S, C], 'h'),
    mean: f([B, S], 'mean'),
    rstd: f([B * S * NH], 'rstd'),
    q: f([B, S, NH, HS], 'q'),
    k: f([B, S, KV, HS], 'k'),
    v: f([B, S, KV, HS], 'v'),
    qRot: f([B, S, NH, HS], 'qRot'),
    kRot: f([B, S, KV, HS], 'kRot'),
    att: f([B, S, NH, HS], 'att'),
    lse: f([B, NH, S], 'lse'),
    proj: f([B, S, C], 'proj'),
    gate: f([B, S, F], 'gate'),
    up: f([B, S, F], 'up'),
    act: f([B, S, F], 'act'),
    last: f([B, C], 'last'),
    logitsLast: f([B, V], 'logitsLast'),
  };
}

export function destroyInferenceState(st: InferenceState): void {
  for (const v of Object.values(st)) {
    if (Array.isArray(v)) v.forEach((t) => t.destroy());
    else if (v && typeof v === 'object' && 'destroy' in v) (v as Tensor).destroy();
  }
}

export interface ForwardWeights {
  spec: ModelSpec;
  weights: GpuModelWeights;
  ropeCos?: Tensor<'f32'>; // [P, HS/2]
  ropeSin?: Tensor<'f32'>; // [P, HS/2]
}

/**
 * Run T new positions of every row through the model, appending them to the KV cache.
 * `ids` is [B, T] row-major; `mask` is [B, S] for the whole cache (1 = real token), or omitted
 * for all ones. Returns the logits of the last new position of each row, [B, V], or of every
 * new position, [B, T, V], when `allLogits` is set.
 */
export async function forward(
  ctx: GpuContext,
  m: ForwardWeights,
  st: InferenceState,
  ids: ArrayLike<number>,
  T: number,
  opts: { mask?: ArrayLike<number>; allLogits?: boolean } = {},
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
  embeddingForward(rec, st.x, st.ids, m.weights.embed, m.weights.positions ?? null, { B, T, C, V, pos0 });
  m.weights.layers.forEach((w, l) => layerForward(rec, m, st, w, l, T, pos0));

  norm(rec, spec, st.h, st, st.x, m.weights.finalNorm, m.weights.finalNormBias, M);
  let logits: Tensor<'f32'>;
  if (opts.allLogits) {
    st.logitsAll ??= createTensor(ctx, [B, S, V], 'f32', undefined, 'logitsAll');
    logits = st.logitsAll;
    matmulForward(rec, logits, st.h, m.weights.lmHead, null, { M, N: V, K: C });
  } else {
    copyRows(rec, st.last, st.h, { B, n: 1, C, inT: T, inStart: T - 1, outT: 1, outStart: 0 });
    logits = st.logitsLast;
    matmulForward(rec, logits, st.last, m.weights.lmHead, null, { M: B, N: V, K: C });
  }
  rec.submit();
  st.length = pos0 + T;
  return readTensor(ctx, logits, 0, (opts.allLogits ? M : B) * V);
}

/** RMSNorm or LayerNorm of `rows` rows of width C. */
function norm(rec: Recorder, spec: ModelSpec, out: Tensor, st: InferenceState, inp: Tensor, w: Tensor, b: Tensor | undefined, rows: number) {
  const dims = { rows, C: spec.C, eps: spec.normEps };
  if (spec.arch === 'gpt2') layernormForward(rec, out, st.mean, st.rstd, inp, w, b!, dims);
  else rmsnormForward(rec, out, st.rstd, inp, w, dims);
}

function layerForward(rec: Recorder, m: ForwardWeights, st: InferenceState, w: GpuLayerWeights, l: number, T: number, pos0: number) {
  const { spec } = m;
  const { B, S } = st;
  const { C, NH, KV, HS, F } = spec;
  const M = B * T;

  // Attention block.
  norm(rec, spec, st.h, st, st.x, w.attnNorm, w.attnNormBias, M);
  matmulForward(rec, st.q, st.h, w.q, w.qBias ?? null, { M, N: NH * HS, K: C });
  matmulForward(rec, st.k, st.h, w.k, w.kBias ?? null, { M, N: KV * HS, K: C });
  matmulForward(rec, st.v, st.h, w.v, w.vBias ?? null, { M, N: KV * HS, K: C });
  let q = st.q;
  let k = st.k;
  if (w.qNorm && w.kNorm) {
    rmsnormForward(rec, st.qRot, st.rstd, st.q, w.qNorm, { rows: M * NH, C: HS, eps: spec.normEps });
    rmsnormForward(rec, st.kRot, st.rstd, st.k, w.kNorm, { rows: M * KV, C: HS, eps: spec.normEps });
    // RoPE below reads the normed heads; its output goes back into q / k.
    [q, k] = [st.qRot, st.kRot];
  }
  if (m.ropeCos && m.ropeSin) {
    const [qOut, kOut] = q === st.q ? [st.qRot, st.kRot] : [st.q, st.k];
    ropeForward(rec, qOut, q, m.ropeCos, m.ropeSin, { B, T, H: NH, HS, pos0 });
    ropeForward(rec, kOut, k, m.ropeCos, m.ropeSin, { B, T, H: KV, HS, pos0 });
    [q, k] = [qOut, kOut];
  }
  const kvCopy = { B, n: T, C: KV * HS, inT: T, inStart: 0, outT: S, outStart: pos0 };
  copyRows(rec, st.kCache[l], k, kvCopy);
  copyRows(rec, st.vCache[l], st.v, kvCopy);
  attentionForward(rec, st.att, st.lse, q, st.kCache[l], st.vCache[l], st.mask, { B, T, S, NH, KV, HS, pos0 });
  matmulForward(rec, st.proj, st.att, w.o, w.oBias ?? null, { M, N: C, K: NH * HS });
  residualForward(rec, st.xMid, st.x, st.proj, { n: M * C });

  // MLP block.
  norm(rec, spec, st.h, st, st.xMid, w.mlpNorm, w.mlpNormBias, M);
  matmulForward(rec, st.up, st.h, w.up, w.upBias ?? null, { M, N: F, K: C });
  if (w.gate) {
    matmulForward(rec, st.gate, st.h, w.gate, w.gateBias ?? null, { M, N: F, K: C });
    swigluForward(rec, st.act, st.gate, st.up, { n: M * F });
  } else {
    geluForward(rec, st.act, st.up, { n: M * F });
  }
  matmulForward(rec, st.proj, st.act, w.down, w.downBias ?? null, { M, N: C, K: F });
  residualForward(rec, st.x, st.xMid, st.proj, { n: M * C });
}
