// One transformer block, forward, shared by inference (KV cache) and training (saved activations).
//
// Dimension letters: B batch, T positions in this call, S key/value positions (the cache
// capacity in inference, T in training), C width, NH query heads, KV key/value heads, HS head
// size, F MLP width, R LoRA rank; M = B·T rows.
//
// Llama family (llama, qwen2, qwen3), pre-norm:
//   h1 = rmsnorm(x);  q, k, v = h1·Wqᵀ (+bq), h1·Wkᵀ (+bk), h1·Wvᵀ (+bv)   (each + its LoRA)
//   qwen3: qn, kn = rmsnorm_per_head(q), rmsnorm_per_head(k);  qr, kr = rope(qn), rope(kn)
//   a = attention(qr, kr, v);  xMid = x + a·Woᵀ (+bo);  h2 = rmsnorm(xMid)
//   xOut = xMid + (silu(h2·Wgᵀ) ⊙ h2·Wuᵀ)·Wdᵀ
// GPT-2: LayerNorm, no RoPE (qr = q, kr = k), biases everywhere, and
//   xOut = xMid + gelu(h2·Wfcᵀ + b)·Wprojᵀ + b.
import type { Recorder } from '../gpu/kernel.js';
import { attentionForward } from '../gpu/kernels/attention.js';
import { copyRows } from '../gpu/kernels/copy-rows.js';
import { geluForward } from '../gpu/kernels/gelu.js';
import { layernormForward } from '../gpu/kernels/layernorm.js';
import { residualForward } from '../gpu/kernels/residual.js';
import { rmsnormForward } from '../gpu/kernels/rmsnorm.js';
import { ropeForward } from '../gpu/kernels/rope.js';
import { swigluForward } from '../gpu/kernels/swiglu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import type { GpuLayerWeights, GpuModelWeights } from './gpu-weights.js';
import { linearForward, type DropoutPass, type LowRankUpdates, type ProjectionKind } from './linear.js';

export interface ForwardWeights {
  spec: ModelSpec;
  weights: GpuModelWeights;
  ropeCos?: Tensor<'f32'>; // [P, HS/2]
  ropeSin?: Tensor<'f32'>; // [P, HS/2]
}

/** Where a block puts its intermediates: per layer in training (saved), shared in inference. */
export interface LayerBuffers {
  h1: Tensor; // [M, C] normed block input
  mean1: Tensor; // [M] LayerNorm mean (GPT-2)
  rstd1: Tensor; // [M]
  q: Tensor; // [M, NH·HS] projection outputs
  k: Tensor; // [M, KV·HS]
  v: Tensor; // [M, KV·HS]
  qn: Tensor; // [M, NH·HS] after the per-head norm (qwen3; otherwise unused)
  kn: Tensor; // [M, KV·HS]
  rstdQ: Tensor; // [M·NH]
  rstdK: Tensor; // [M·KV]
  qr: Tensor; // [M, NH·HS] after RoPE: the attention's queries
  kr: Tensor; // [M, KV·HS] after RoPE: the attention's keys
  att: Tensor; // [M, NH·HS] attention output
  lse: Tensor; // [B, NH, T] its log-sum-exp per query row
  proj: Tensor; // [M, C] o_proj / down_proj output (scratch)
  xMid: Tensor; // [M, C] residual stream after attention
  h2: Tensor; // [M, C]
  mean2: Tensor; // [M]
  rstd2: Tensor; // [M]
  gate: Tensor; // [M, F]
  up: Tensor; // [M, F]
  act: Tensor; // [M, F]
  /** u = x·Aᵀ [M, R] of each adapted projection (GPT-2's k and v reuse q's). */
  u: Partial<Record<ProjectionKind, Tensor>>;
}

export interface BlockDims {
  B: number;
  T: number;
  S: number;
  pos0: number;
}

/** RMSNorm or LayerNorm of `rows` rows of width C. */
export function normForward(rec: Recorder, spec: ModelSpec, out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, b: Tensor | undefined, rows: number) {
  const dims = { rows, C: spec.C, eps: spec.normEps };
  if (spec.arch === 'gpt2') layernormForward(rec, out, mean, rstd, inp, w, b!, dims);
  else rmsnormForward(rec, out, rstd, inp, w, dims);
}

/** The u buffer a projection writes or (GPT-2's k, v) reads. */
export function uBuffer(buf: LayerBuffers, lora: LowRankUpdates | undefined, l: number, kind: ProjectionKind): Tensor | undefined {
  const slot = lora?.slot(l, kind);
  if (!slot) return undefined;
  return slot.computesU ? buf.u[kind] : buf.u.q;
}

/**
 * Layer l on rows x [B, T, C] → xOut. With `cache`, keys and values are appended to the cache at
 * positions pos0.. and attention reads the cache ([B, S, KV, HS]); without, attention reads kr and
 * v directly (training: S = T, pos0 = 0). With `pass` (training only), LoRA inputs are dropped
 * where an update has dropout (see ./linear.ts).
 */
export function layerForward(
  rec: Recorder,
  m: ForwardWeights,
  lora: LowRankUpdates | undefined,
  l: number,
  xOut: Tensor,
  x: Tensor,
  mask: Tensor,
  buf: LayerBuffers,
  { B, T, S, pos0 }: BlockDims,
  cache?: { k: Tensor; v: Tensor },
  pass?: DropoutPass,
): void {
  const { spec } = m;
  const w: GpuLayerWeights = m.weights.layers[l];
  const { C, NH, KV, HS, F } = spec;
  const M = B * T;
  const lin = (kind: ProjectionKind, out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | undefined, N: number, K: number) =>
    linearForward(rec, out, uBuffer(buf, lora, l, kind), inp, weight, bias, lora?.slot(l, kind), { M, N, K }, pass);

  // Attention block.
  normForward(rec, spec, buf.h1, buf.mean1, buf.rstd1, x, w.attnNorm, w.attnNormBias, M);
  lin('q', buf.q, buf.h1, w.q, w.qBias, NH * HS, C);
  lin('k', buf.k, buf.h1, w.k, w.kBias, KV * HS, C);
  lin('v', buf.v, buf.h1, w.v, w.vBias, KV * HS, C);
  let q = buf.q;
  let k = buf.k;
  if (w.qNorm && w.kNorm) {
    rmsnormForward(rec, buf.qn, buf.rstdQ, buf.q, w.qNorm, { rows: M * NH, C: HS, eps: spec.normEps });
    rmsnormForward(rec, buf.kn, buf.rstdK, buf.k, w.kNorm, { rows: M * KV, C: HS, eps: spec.normEps });
    [q, k] = [buf.qn, buf.kn];
  }
  if (m.ropeCos && m.ropeSin) {
    ropeForward(rec, buf.qr, q, m.ropeCos, m.ropeSin, { B, T, H: NH, HS, pos0 });
    ropeForward(rec, buf.kr, k, m.ropeCos, m.ropeSin, { B, T, H: KV, HS, pos0 });
    [q, k] = [buf.qr, buf.kr];
  }
  let keys = k;
  let values = buf.v;
  if (cache) {
    const kvCopy = { B, n: T, C: KV * HS, inT: T, inStart: 0, outT: S, outStart: pos0 };
    copyRows(rec, cache.k, k, kvCopy);
    copyRows(rec, cache.v, buf.v, kvCopy);
    [keys, values] = [cache.k, cache.v];
  }
  attentionForward(rec, buf.att, buf.lse, q, keys, values, mask, { B, T, S, NH, KV, HS, pos0 });
  lin('o', buf.proj, buf.att, w.o, w.oBias, C, NH * HS);
  residualForward(rec, buf.xMid, x, buf.proj, { n: M * C });

  // MLP block.
  normForward(rec, spec, buf.h2, buf.mean2, buf.rstd2, buf.xMid, w.mlpNorm, w.mlpNormBias, M);
  lin('up', buf.up, buf.h2, w.up, w.upBias, F, C);
  if (w.gate) {
    lin('gate', buf.gate, buf.h2, w.gate, w.gateBias, F, C);
    swigluForward(rec, buf.act, buf.gate, buf.up, { n: M * F });
  } else {
    geluForward(rec, buf.act, buf.up, { n: M * F });
  }
  lin('down', buf.proj, buf.act, w.down, w.downBias, C, F);
  residualForward(rec, xOut, buf.xMid, buf.proj, { n: M * C });
}
