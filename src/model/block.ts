// One transformer block, forward and backward side by side: the norm, the self-attention half and
// the MLP half, each pair together. Inference (./forward.ts, with a KV cache) and training
// (./train-pass.ts, saving activations for the backward pass) run the same blockForward.
//
// Dimension letters, for every file of src/model: B batch rows, T positions in this call,
// S key/value positions (the cache capacity in inference, T in training), M = B·T rows, C model
// width, NH query heads, KV key/value heads, HS head size, F MLP width, V vocabulary, L layers,
// P positions the model knows (maxPositions), R LoRA rank; a projection maps K inputs to N
// outputs. ModelSpec (./config.ts) holds C, NH, KV, HS, F, V and L.
//
// Llama family (llama, qwen2, qwen3, smollm3, gemma3), pre-norm; each projection is a LoRA-wrapped
// linear layer (./linear.ts):
//   h1 = rmsnorm(x);  q, k, v = h1·Wqᵀ (+bq), h1·Wkᵀ (+bk), h1·Wvᵀ (+bv)
//   qwen3, gemma3: qn, kn = rmsnorm_per_head(q), rmsnorm_per_head(k);  qr, kr = rope(qn), rope(kn)
//   (smollm3's NoPE layers: no rope; the layer's RoPE table otherwise, spec.layers[l].rope)
//   a = attention(qr, kr, v) (with the layer's sliding window, and Gemma's score scale)
//   xMid = x + a·Woᵀ (+bo);  h2 = rmsnorm(xMid);  out = xMid + act(h2·Wgᵀ, h2·Wuᵀ)·Wdᵀ
// with act = silu(gate) ⊙ up (SwiGLU), or gelu_tanh(gate) ⊙ up (Gemma's GeGLU).
// Gemma 3 (spec.postNorms; every RMSNorm there scales by 1 + weight): the attention and MLP
// outputs are normed before their residual adds, xMid = x + rmsnorm_pa(a·Woᵀ) and
// out = xMid + rmsnorm_pf(mlp(h2)); the o and down outputs are kept for those norms' backward.
// GPT-2: LayerNorm, no RoPE (qr = q, kr = k), biases everywhere, and
//   out = xMid + gelu(h2·Wfcᵀ + b)·Wprojᵀ + b.
//
// Backward (the base weights are frozen: activation gradients, and the LoRA A/B gradients that
// linearBackward accumulates), given dRes = d loss / d out, from the last operation to the first:
// the MLP half, (Gemma: dP = d rmsnorm_pf applied to dRes, else dP = dRes) dAct = dP·Wd (the down
// projection's input gradient), the gate's and up's gradients (swiglu, geglu or gelu backward),
// dH = their input gradients through Wu (and Wg), then dRes += d norm(xMid) / d xMid applied to dH
// (the residual path carries dRes through unchanged); the attention half, dAtt = dP·Wo (dP as
// before, through rmsnorm_pa), dq, dk, dv from attention backward, back through RoPE and the
// per-head norm, dH = dq·Wq + dk·Wk + dv·Wv, then dRes += d norm(x) / d x applied to dH.
// On exit dRes = d loss / d x.
import type { Recorder } from '../gpu/kernel.js';
import { attentionBackward, attentionForward } from '../gpu/kernels/attention.js';
import { copyRows } from '../gpu/kernels/copy-rows.js';
import { gegluBackward, gegluForward, swigluBackward, swigluForward } from '../gpu/kernels/glu.js';
import { geluBackward, geluForward } from '../gpu/kernels/gelu.js';
import { layernormBackward, layernormForward } from '../gpu/kernels/layernorm.js';
import { residualForward } from '../gpu/kernels/residual.js';
import { rmsnormBackward, rmsnormForward } from '../gpu/kernels/rmsnorm.js';
import { ropeBackward, ropeForward } from '../gpu/kernels/rope.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import type { ForwardWeights, LayerBuffers } from './layer.js';
import {
  linearBackward,
  linearForward,
  type DropoutPass,
  type LinearBackwardArgs,
  type LinearForwardArgs,
  type LowRankUpdate,
  type LowRankUpdates,
  type ProjectionKind,
} from './linear.js';
import type { TrainBuffers } from './train-buffers.js';

export interface BlockDims {
  B: number;
  T: number;
  S: number;
  pos0: number; // the position of the first of the T rows
}

export interface BlockForwardArgs {
  out: Tensor; // [M, C] the block's output (inference: x itself, the residual stream updated in place)
  x: Tensor; // [M, C] the block's input
  mask: Tensor; // [B, S] u32, 1 = a real token
  buf: LayerBuffers; // the intermediates, written here
  dims: BlockDims;
  lora?: LowRankUpdates;
  /**
   * Inference: this layer's KV cache, [B, S, KV, HS] each; the T new keys and values go in at
   * positions pos0.., and attention reads the cache. Without (training: S = T, pos0 = 0),
   * attention reads kr and v directly.
   */
  cache?: { k: Tensor; v: Tensor };
  /** A training pass: LoRA inputs are dropped where an update has dropout (./linear.ts). */
  pass?: DropoutPass;
}

/** The gradient scratch of a block's backward pass, shared by every layer (TrainBuffers holds it; shapes there). */
export type BlockGradScratch = Pick<TrainBuffers, 'dH' | 'dAtt' | 'dQ' | 'dQ2' | 'dK' | 'dK2' | 'dV' | 'dAct' | 'dGate' | 'dUp' | 'dU' | 'attScratch'>;

export interface BlockBackwardArgs {
  /** [M, C] d loss / d residual stream: on entry with respect to the block's output, on exit to its input x. */
  dres: Tensor;
  x: Tensor; // [M, C] the block's input, as blockForward was given it
  mask: Tensor; // [B, T] u32
  buf: LayerBuffers; // as blockForward left them
  grads: BlockGradScratch;
  dims: { B: number; T: number };
  lora?: LowRankUpdates;
  /** The pass blockForward was given (the same dropout masks). */
  pass?: DropoutPass;
  /** Scratch free during the call, for the LoRA gradients' split sums (linearBackward). */
  partials?: Tensor;
}

// Norm: RMSNorm (llama family, with Gemma's 1 + weight) or LayerNorm (GPT-2) over rows of width C.

export interface NormForwardArgs {
  out: Tensor; // [rows, C]
  mean: Tensor; // [rows] (LayerNorm; RMSNorm leaves it alone)
  rstd: Tensor; // [rows]
  input: Tensor; // [rows, C]
  weight: Tensor; // [C]
  bias?: Tensor; // [C] (LayerNorm)
  rows: number;
}

/** out = (x − mean)·rstd·w + b (LayerNorm) or x·rstd·w (RMSNorm; Gemma: x·rstd·(1 + w)), saving mean and rstd. */
export function normForward(rec: Recorder, spec: ModelSpec, { out, mean, rstd, input, weight, bias, rows }: NormForwardArgs): void {
  const dims = { rows, C: spec.C, eps: spec.normEps };
  if (spec.arch === 'gpt2') layernormForward(rec, out, mean, rstd, input, weight, bias!, dims);
  else rmsnormForward(rec, out, rstd, input, weight, { ...dims, onePlusWeight: spec.normOnePlusWeight });
}

export interface NormBackwardArgs {
  dinput: Tensor; // [rows, C]
  dout: Tensor; // [rows, C]
  input: Tensor; // [rows, C], as normForward was given it
  weight: Tensor; // [C]
  mean: Tensor; // [rows] as normForward saved them
  rstd: Tensor; // [rows]
  rows: number;
  /** Add into dinput (the residual stream's gradient) instead of overwriting it. Default false. */
  accumulate?: boolean;
}

/** dinput (+)= d norm / d input applied to dout (the frozen weight and bias get no gradient). */
export function normBackward(rec: Recorder, spec: ModelSpec, { dinput, dout, input, weight, mean, rstd, rows, accumulate = false }: NormBackwardArgs): void {
  const dims = { rows, C: spec.C, accumulate };
  if (spec.arch === 'gpt2') layernormBackward(rec, dinput, dout, input, weight, mean, rstd, dims);
  else rmsnormBackward(rec, dinput, dout, input, weight, rstd, { ...dims, onePlusWeight: spec.normOnePlusWeight });
}

// The projections: a frozen linear layer with the layer's low-rank update, where it has one.

/** Projection `kind`'s update in layer l and its u buffer (GPT-2's k and v read q's), or none. */
function adapted(lora: LowRankUpdates | undefined, l: number, buf: LayerBuffers, kind: ProjectionKind): { lora?: LowRankUpdate; u?: Tensor } {
  const slot = lora?.slot(l, kind);
  if (!slot) return {};
  return { lora: slot, u: slot.computesU ? buf.u[kind] : buf.u.q };
}

type ProjectionForward = Omit<LinearForwardArgs, 'lora' | 'u' | 'pass'>;
type ProjectionBackward = Omit<LinearBackwardArgs, 'lora' | 'u' | 'du' | 'pass' | 'partials'>;

function projectForward(rec: Recorder, l: number, { buf, lora, pass }: BlockForwardArgs, kind: ProjectionKind, a: ProjectionForward): void {
  linearForward(rec, { ...a, ...adapted(lora, l, buf, kind), pass });
}

function projectBackward(rec: Recorder, l: number, { buf, lora, pass, grads, partials }: BlockBackwardArgs, kind: ProjectionKind, a: ProjectionBackward): void {
  linearBackward(rec, { ...a, ...adapted(lora, l, buf, kind), du: grads.dU, pass, partials });
}

// What differs per layer: its RoPE table and its attention's options.

/** The row of layer l's RoPE table in the model's tables (./rope.ts), or null: no RoPE on this layer. */
function ropeTableRow(m: ForwardWeights, l: number): number | null {
  const k = m.spec.layers[l].rope;
  return k === null || !m.ropeCos || !m.ropeSin ? null : k * m.spec.maxPositions;
}

/** Layer l's attention options (the kernels' AttentionOptions): its sliding window, the score scale and softcap. */
function attentionOptions(spec: ModelSpec, l: number): { window?: number; softcap?: number; scale?: number } {
  const { window } = spec.layers[l];
  return {
    ...(window !== null ? { window } : {}),
    ...(spec.attnSoftcap !== null ? { softcap: spec.attnSoftcap } : {}),
    ...(spec.attnScale !== null ? { scale: spec.attnScale } : {}),
  };
}

/** A post-norm (Gemma's post_attention_layernorm / post_feedforward_layernorm): buf.post = rmsnorm(input), its rstd saved. */
function postNormForward(rec: Recorder, spec: ModelSpec, buf: LayerBuffers, input: Tensor, weight: Tensor, rstd: Tensor, M: number): Tensor {
  normForward(rec, spec, { out: buf.post!, mean: buf.mean1, rstd, input, weight, rows: M });
  return buf.post!;
}

// Self-attention half: xMid = x + o(attention(rope(norm_qk(q)), rope(norm_qk(k)), v)), q, k, v of h1 = norm(x).

function selfAttentionForward(rec: Recorder, m: ForwardWeights, l: number, args: BlockForwardArgs): void {
  const { spec } = m;
  const { C, NH, KV, HS } = spec;
  const { x, mask, buf, cache } = args;
  const { B, T, S, pos0 } = args.dims;
  const w = m.weights.layers[l];
  const M = B * T;
  const project = (kind: ProjectionKind, a: ProjectionForward) => projectForward(rec, l, args, kind, a);

  normForward(rec, spec, { out: buf.h1, mean: buf.mean1, rstd: buf.rstd1, input: x, weight: w.attnNorm, bias: w.attnNormBias, rows: M });
  project('q', { out: buf.q, input: buf.h1, weight: w.q, bias: w.qBias, dims: { M, N: NH * HS, K: C } });
  project('k', { out: buf.k, input: buf.h1, weight: w.k, bias: w.kBias, dims: { M, N: KV * HS, K: C } });
  project('v', { out: buf.v, input: buf.h1, weight: w.v, bias: w.vBias, dims: { M, N: KV * HS, K: C } });
  let q = buf.q;
  let k = buf.k;
  if (w.qNorm && w.kNorm) {
    const norm = { C: HS, eps: spec.normEps, onePlusWeight: spec.normOnePlusWeight };
    rmsnormForward(rec, buf.qn, buf.rstdQ, buf.q, w.qNorm, { rows: M * NH, ...norm });
    rmsnormForward(rec, buf.kn, buf.rstdK, buf.k, w.kNorm, { rows: M * KV, ...norm });
    [q, k] = [buf.qn, buf.kn];
  }
  const tableRow = ropeTableRow(m, l);
  if (tableRow !== null) {
    ropeForward(rec, buf.qr, q, m.ropeCos!, m.ropeSin!, { B, T, H: NH, HS, pos0, tableRow });
    ropeForward(rec, buf.kr, k, m.ropeCos!, m.ropeSin!, { B, T, H: KV, HS, pos0, tableRow });
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
  attentionForward(rec, buf.att, buf.lse, q, keys, values, mask, { B, T, S, NH, KV, HS, pos0, ...attentionOptions(spec, l) });
  const o = spec.postNorms ? buf.oOut! : buf.proj;
  project('o', { out: o, input: buf.att, weight: w.o, bias: w.oBias, dims: { M, N: C, K: NH * HS } });
  const added = spec.postNorms ? postNormForward(rec, spec, buf, o, w.postAttnNorm!, buf.rstdPost1!, M) : o;
  residualForward(rec, buf.xMid, x, added, { n: M * C });
}

function selfAttentionBackward(rec: Recorder, m: ForwardWeights, l: number, args: BlockBackwardArgs): void {
  const { spec } = m;
  const { C, NH, KV, HS } = spec;
  const { dres, x, mask, buf, grads: g } = args;
  const { B, T } = args.dims;
  const w = m.weights.layers[l];
  const M = B * T;
  const project = (kind: ProjectionKind, a: ProjectionBackward) => projectBackward(rec, l, args, kind, a);

  // Gemma: back through the post-attention norm first (into dH, free until q's input gradient).
  let dO = dres;
  if (spec.postNorms) {
    normBackward(rec, spec, { dinput: g.dH, dout: dres, input: buf.oOut!, weight: w.postAttnNorm!, mean: buf.mean1, rstd: buf.rstdPost1!, rows: M });
    dO = g.dH;
  }
  project('o', { dinput: g.dAtt, dout: dO, input: buf.att, weight: w.o, dims: { M, N: C, K: NH * HS } });
  const tableRow = ropeTableRow(m, l);
  const rope = tableRow !== null;
  const qkNorm = !!(w.qNorm && w.kNorm);
  const qAtt = rope ? buf.qr : qkNorm ? buf.qn : buf.q;
  const kAtt = rope ? buf.kr : qkNorm ? buf.kn : buf.k;
  const dims = { B, T, NH, KV, HS, ...attentionOptions(spec, l) };
  attentionBackward(rec, g.dQ, g.dK, g.dV, g.attScratch, g.dAtt, qAtt, kAtt, buf.v, buf.att, buf.lse, mask, dims);
  // dq, dk step back through RoPE and the per-head norm, each step into the other buffer of its pair.
  let [dq, dqFree, dk, dkFree] = [g.dQ, g.dQ2, g.dK, g.dK2];
  if (rope) {
    ropeBackward(rec, dqFree, dq, m.ropeCos!, m.ropeSin!, { B, T, H: NH, HS, pos0: 0, tableRow });
    ropeBackward(rec, dkFree, dk, m.ropeCos!, m.ropeSin!, { B, T, H: KV, HS, pos0: 0, tableRow });
    [dq, dqFree, dk, dkFree] = [dqFree, dq, dkFree, dk];
  }
  if (qkNorm) {
    const norm = { C: HS, onePlusWeight: spec.normOnePlusWeight };
    rmsnormBackward(rec, dqFree, dq, buf.q, w.qNorm!, buf.rstdQ, { rows: M * NH, ...norm });
    rmsnormBackward(rec, dkFree, dk, buf.k, w.kNorm!, buf.rstdK, { rows: M * KV, ...norm });
    [dq, dk] = [dqFree, dkFree];
  }
  project('q', { dinput: g.dH, dout: dq, input: buf.h1, weight: w.q, dims: { M, N: NH * HS, K: C } });
  project('k', { dinput: g.dH, dout: dk, input: buf.h1, weight: w.k, dims: { M, N: KV * HS, K: C }, accumulate: true });
  project('v', { dinput: g.dH, dout: g.dV, input: buf.h1, weight: w.v, dims: { M, N: KV * HS, K: C }, accumulate: true });
  normBackward(rec, spec, { dinput: dres, dout: g.dH, input: x, weight: w.attnNorm, mean: buf.mean1, rstd: buf.rstd1, rows: M, accumulate: true });
}

// MLP half: out = xMid + down(act(h2)), h2 = norm(xMid); act = silu(gate) ⊙ up, gelu_tanh(gate) ⊙ up
// (Gemma), or gelu(up) (GPT-2); Gemma norms the down output before the residual add.

function mlpForward(rec: Recorder, m: ForwardWeights, l: number, args: BlockForwardArgs): void {
  const { spec } = m;
  const { C, F } = spec;
  const { out, buf } = args;
  const M = args.dims.B * args.dims.T;
  const w = m.weights.layers[l];
  const project = (kind: ProjectionKind, a: ProjectionForward) => projectForward(rec, l, args, kind, a);

  normForward(rec, spec, { out: buf.h2, mean: buf.mean2, rstd: buf.rstd2, input: buf.xMid, weight: w.mlpNorm, bias: w.mlpNormBias, rows: M });
  project('up', { out: buf.up, input: buf.h2, weight: w.up, bias: w.upBias, dims: { M, N: F, K: C } });
  if (w.gate) {
    project('gate', { out: buf.gate, input: buf.h2, weight: w.gate, bias: w.gateBias, dims: { M, N: F, K: C } });
    if (spec.mlpActivation === 'gelu_tanh') gegluForward(rec, buf.act, buf.gate, buf.up, { n: M * F });
    else swigluForward(rec, buf.act, buf.gate, buf.up, { n: M * F });
  } else {
    geluForward(rec, buf.act, buf.up, { n: M * F });
  }
  project('down', { out: buf.proj, input: buf.act, weight: w.down, bias: w.downBias, dims: { M, N: C, K: F } });
  const added = spec.postNorms ? postNormForward(rec, spec, buf, buf.proj, w.postMlpNorm!, buf.rstdPost2!, M) : buf.proj;
  residualForward(rec, out, buf.xMid, added, { n: M * C });
}

function mlpBackward(rec: Recorder, m: ForwardWeights, l: number, args: BlockBackwardArgs): void {
  const { spec } = m;
  const { C, F } = spec;
  const { dres, buf, grads: g } = args;
  const M = args.dims.B * args.dims.T;
  const w = m.weights.layers[l];
  const project = (kind: ProjectionKind, a: ProjectionBackward) => projectBackward(rec, l, args, kind, a);

  // Gemma: back through the post-feedforward norm first (into dH, free until up's input gradient).
  let dDown = dres;
  if (spec.postNorms) {
    normBackward(rec, spec, { dinput: g.dH, dout: dres, input: buf.proj, weight: w.postMlpNorm!, mean: buf.mean2, rstd: buf.rstdPost2!, rows: M });
    dDown = g.dH;
  }
  project('down', { dinput: g.dAct, dout: dDown, input: buf.act, weight: w.down, dims: { M, N: C, K: F } });
  if (w.gate) {
    if (spec.mlpActivation === 'gelu_tanh') gegluBackward(rec, g.dGate, g.dUp, g.dAct, buf.gate, buf.up, { n: M * F });
    else swigluBackward(rec, g.dGate, g.dUp, g.dAct, buf.gate, buf.up, { n: M * F });
    project('up', { dinput: g.dH, dout: g.dUp, input: buf.h2, weight: w.up, dims: { M, N: F, K: C } });
    project('gate', { dinput: g.dH, dout: g.dGate, input: buf.h2, weight: w.gate, dims: { M, N: F, K: C }, accumulate: true });
  } else {
    geluBackward(rec, g.dUp, g.dAct, buf.up, { n: M * F });
    project('up', { dinput: g.dH, dout: g.dUp, input: buf.h2, weight: w.up, dims: { M, N: F, K: C } });
  }
  normBackward(rec, spec, { dinput: dres, dout: g.dH, input: buf.xMid, weight: w.mlpNorm, mean: buf.mean2, rstd: buf.rstd2, rows: M, accumulate: true });
}

// The block.

/** Layer l on rows x [B, T, C] → out, its intermediates in args.buf. */
export function blockForward(rec: Recorder, m: ForwardWeights, l: number, args: BlockForwardArgs): void {
  selfAttentionForward(rec, m, l, args);
  mlpForward(rec, m, l, args);
}

/** Layer l's backward: args.dres from d loss / d out to d loss / d x, adding into the LoRA gradients. */
export function blockBackward(rec: Recorder, m: ForwardWeights, l: number, args: BlockBackwardArgs): void {
  mlpBackward(rec, m, l, args);
  selfAttentionBackward(rec, m, l, args);
}
