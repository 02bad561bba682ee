// Causal scaled-dot-product attention with grouped-query heads and a key padding mask, reading
// keys and values from a KV-cache layout [B, S, KV, HS]; flash-style online softmax, O(T) memory.
// Optionally (Gemma 2 / 3, AttentionOptions): a sliding window, logit softcapping and a score scale
// other than 1 / sqrt(HS), in the forward (prefill and KV-cache decoding) and both gradient kernels.
// Each of the forward, dq and dk/dv kernels comes in three variants with the same results: one
// invocation per row (attention_*.wgsl), the same reading four dimensions at a time for head sizes
// that are a multiple of 4 up to ATTENTION_VEC4_MAX_HS (attention_vec4_*.wgsl), and one subgroup per
// row with the lanes splitting the head dimension (attention_subgroup_*.wgsl). selectAttention
// chooses from the device's policy (../policy.ts: subgroups on GPUs that have them, the per-row
// kernels on SwiftShader), and among the per-row kernels by head size (attentionVec4).
import forwardCode from '../../../shaders/attention_forward.wgsl?raw';
import backwardKeyCode from '../../../shaders/attention_backward_key.wgsl?raw';
import backwardPrepCode from '../../../shaders/attention_backward_prep.wgsl?raw';
import backwardQueryCode from '../../../shaders/attention_backward_query.wgsl?raw';
import subgroupKeyCode from '../../../shaders/attention_subgroup_backward_key.wgsl?raw';
import subgroupQueryCode from '../../../shaders/attention_subgroup_backward_query.wgsl?raw';
import subgroupForwardCode from '../../../shaders/attention_subgroup_forward.wgsl?raw';
import vec4KeyCode from '../../../shaders/attention_vec4_backward_key.wgsl?raw';
import vec4QueryCode from '../../../shaders/attention_vec4_backward_query.wgsl?raw';
import vec4ForwardCode from '../../../shaders/attention_vec4_forward.wgsl?raw';
import backwardIoCode from '../../../shaders/lib/attention_backward_io.wgsl?raw';
import forwardIoCode from '../../../shaders/lib/attention_forward_io.wgsl?raw';
import perRowCode from '../../../shaders/lib/attention_per_row.wgsl?raw';
import rowsCode from '../../../shaders/lib/attention_rows.wgsl?raw';
import scoreCode from '../../../shaders/lib/attention_score.wgsl?raw';
import subgroupCode from '../../../shaders/lib/attention_subgroup.wgsl?raw';
import { composeWgsl, type WgslPart } from '../wgsl.js';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import type { KernelPolicy, Selection } from '../policy.js';

/**
 * What Gemma-style attention adds to the plain causal kind, in the forward's and the backward's
 * dims alike (pass the same values to both); each absent or 0 means off, which is the attention
 * as it was before these existed, to the bit.
 */
export interface AttentionOptions {
  /**
   * Sliding window W (a positive integer; 0 or absent: none): the query at absolute position
   * p = pos0 + t attends only the keys j with p - W < j <= p, the W most recent positions with
   * itself (and, as always, mask[b, j] != 0). Hugging Face transformers' sliding window
   * (masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window): pass
   * config.sliding_window on a "sliding_attention" layer. W >= pos0 + T changes nothing.
   */
  window?: number;
  /**
   * Logit softcap c (> 0; 0 or absent: none): each score becomes c · tanh(score / c) before the
   * mask and the softmax; the backward includes its derivative 1 - tanh². Gemma 2's
   * attn_logit_softcapping (50); Gemma 3's configs have it null (and transformers' Gemma3Attention does not pass it).
   */
  softcap?: number;
  /**
   * The score scale, score = (q · k) · scale (positive; absent: 1 / sqrt(HS)). Gemma passes
   * query_pre_attn_scalar^-1/2.
   */
  scale?: number;
}

export interface AttentionDims extends AttentionOptions {
  B: number;
  T: number; // query positions in this call, at absolute positions pos0 .. pos0 + T - 1
  S: number; // key/value capacity of the cache (pos0 + T <= S)
  NH: number; // query heads
  KV: number; // key/value heads; NH is a multiple of KV
  HS: number; // head size, at most ATTENTION_MAX_HS
  pos0: number;
}

/** The largest head size the kernel's private arrays hold (MAX_HS in attention_forward.wgsl). */
export const ATTENTION_MAX_HS = 256;

/** lse of a query row that has no allowed key (a padding query of a left-padded row); its out row is 0. */
export const ATTENTION_NO_KEY_LSE = -1e30;

// Each kernel's module is its own .wgsl file (shaders/attention_*.wgsl) composed (../wgsl.ts) with
// the library parts it uses (shaders/lib/attention_*.wgsl): attention_rows (the HS override, the
// no-key sentinels, the row decoding; all kernels but prep), attention_score (the causal mask with
// the sliding window, the SOFTCAP override and the softcapped score; the same), attention_forward_io or
// attention_backward_io (the inputs and params that the three variants of a step share),
// attention_per_row (the entry point of the per-row kernels and prep) or attention_subgroup (the
// directives, work split and entry point of the subgroup kernels; first, for its directives).
const rowsPart: WgslPart = { name: 'lib/attention_rows.wgsl', code: rowsCode };
const forwardIo: WgslPart = { name: 'lib/attention_forward_io.wgsl', code: forwardIoCode };
const backwardIo: WgslPart = { name: 'lib/attention_backward_io.wgsl', code: backwardIoCode };
const scorePart: WgslPart = { name: 'lib/attention_score.wgsl', code: scoreCode };

/** A per-row kernel's module: its file `${name}.wgsl`, its step's inputs and params, the rows, the scores and the per-row entry point. */
function perRowModule(name: string, code: string, io: WgslPart): string {
  return composeWgsl({ name: `${name}.wgsl`, code }, io, rowsPart, scorePart, { name: 'lib/attention_per_row.wgsl', code: perRowCode });
}

/** A subgroup kernel's module: the subgroup part (with the directives) first, then as perRowModule. */
function subgroupModule(name: string, code: string, io: WgslPart): string {
  return composeWgsl({ name: 'lib/attention_subgroup.wgsl', code: subgroupCode }, { name: `${name}.wgsl`, code }, io, rowsPart, scorePart);
}

// The options as the kernels take them (lib/attention_score.wgsl): the scale and the window in
// the params (the window at most the key count `keys`, S or T, so that j + W never wraps and a
// larger one is the same), the softcap as the SOFTCAP override constant (0: none), so that a
// pipeline without it folds the capping away.
const scaleOf = (d: AttentionOptions & { HS: number }) => d.scale ?? 1 / Math.sqrt(d.HS);
const windowOf = (d: AttentionOptions, keys: number) => Math.min(d.window || 0, keys);
const scoreConstants = (d: AttentionOptions & { HS: number }) => ({ HS: d.HS, SOFTCAP: d.softcap || 0 });

/** Throws unless the options are valid: a non-negative integer window, a non-negative finite softcap, a positive finite scale. */
function checkOptions(kernel: string, d: AttentionOptions): void {
  const { window = 0, softcap = 0, scale } = d;
  if (!Number.isInteger(window) || window < 0) throw new Error(`${kernel}: the sliding window ${window} is not a non-negative integer`);
  if (!Number.isFinite(softcap) || softcap < 0) throw new Error(`${kernel}: the softcap ${softcap} is not a non-negative number`);
  if (scale !== undefined && !(Number.isFinite(scale) && scale > 0)) throw new Error(`${kernel}: the scale ${scale} is not a positive number`);
}

export const attentionForwardKernel: KernelSpec<AttentionDims> = {
  name: 'attention_forward',
  code: perRowModule('attention_forward', forwardCode, forwardIo),
  bindings: ['read_write', 'read_write', 'read', 'read', 'read', 'read'],
  constants: scoreConstants,
  params: (d) => [u32(d.B * d.T * d.NH), u32(d.T), u32(d.S), u32(d.NH), u32(d.KV), u32(d.pos0), f32(scaleOf(d)), u32(windowOf(d, d.S))],
  dispatch: (d) => grid1d(d.B * d.T * d.NH, 64),
};

/** The largest head size of the vec4 kernels (MAX_HS4 * 4 in attention_vec4_*.wgsl). */
export const ATTENTION_VEC4_MAX_HS = 128;

/** Whether the per-row launches take the vec4 kernels: HS a multiple of 4, at most ATTENTION_VEC4_MAX_HS. */
export function attentionVec4(HS: number): boolean {
  return HS % 4 === 0 && HS <= ATTENTION_VEC4_MAX_HS;
}

// The vec4 variants (attention_vec4_*.wgsl): the per-row kernels with q, k, v, dout, out and the
// gradients read and written as vec4 and private vec4 arrays of 128 / 4; same bindings, params,
// dispatch and results.
export const attentionVec4ForwardKernel: KernelSpec<AttentionDims> = {
  ...attentionForwardKernel,
  name: 'attention_vec4_forward',
  code: perRowModule('attention_vec4_forward', vec4ForwardCode, forwardIo),
};

// The subgroup variants (attention_subgroup_*.wgsl): one subgroup per row, its lanes splitting the
// head dimension, for devices with subgroups and the subgroup_id builtins. Same bindings, params
// and results as the per-row kernels; the launch dimensions add the adapter's smallest subgroup
// size, which sets how many rows a workgroup takes and how many dimensions a lane may hold.

/** Invocations per workgroup of the subgroup kernels (WG in shaders/lib/attention_subgroup.wgsl). */
const SUBGROUP_WG = 128;
/** The most head dimensions one lane holds (MAX_DIMS_PER_LANE in shaders/lib/attention_subgroup.wgsl). */
export const ATTENTION_MAX_DIMS_PER_LANE = 64;

/** A launch of a subgroup kernel: the per-row kernel's dimensions and the adapter's subgroupMinSize. */
export type WithSubgroupSize<D> = D & { subgroupMinSize: number };

/**
 * The subgroup variant of a per-row kernel: its bindings and params, with `rows` rows (one
 * subgroup each) in workgroups of SUBGROUP_WG / subgroupMinSize rows.
 */
function subgroupVariant<D extends AttentionOptions & { HS: number }>(
  perRow: KernelSpec<D>,
  name: string,
  code: string,
  rows: (d: D) => number,
): KernelSpec<WithSubgroupSize<D>> {
  return {
    name,
    code,
    bindings: perRow.bindings,
    params: perRow.params,
    constants: (d) => ({ ...scoreConstants(d), DIMS_PER_LANE: Math.ceil(d.HS / d.subgroupMinSize), ROWS_PER_WG: SUBGROUP_WG / d.subgroupMinSize }),
    dispatch: (d) => grid1d(rows(d), SUBGROUP_WG / d.subgroupMinSize),
  };
}

/**
 * The subgroup size the subgroup attention kernels run with on a device with this policy at head
 * size HS: the policy's smallest subgroup size (it has subgroups and the subgroup_id builtins),
 * where SUBGROUP_WG is a multiple of it and ceil(HS / size) is within ATTENTION_MAX_DIMS_PER_LANE;
 * null otherwise.
 */
export function attentionSubgroupSize(policy: KernelPolicy, HS: number): number | null {
  const size = policy.subgroupSize;
  return size > 0 && SUBGROUP_WG % size === 0 && Math.ceil(HS / size) <= ATTENTION_MAX_DIMS_PER_LANE ? size : null;
}

export const attentionSubgroupForwardKernel = subgroupVariant(
  attentionForwardKernel,
  'attention_subgroup_forward',
  subgroupModule('attention_subgroup_forward', subgroupForwardCode, forwardIo),
  (d) => d.B * d.T * d.NH,
);

/** The three kernels of one attention variant; the subgroup ones also read `subgroupMinSize`. */
export interface AttentionKernels {
  forward: KernelSpec<WithSubgroupSize<AttentionDims>>;
  query: KernelSpec<WithSubgroupSize<AttentionBackwardDims>>;
  key: KernelSpec<WithSubgroupSize<AttentionBackwardDims>>;
}

/**
 * The attention kernels a device with this policy takes at head size HS, and the subgroup size
 * they are launched with (0 for the per-row kernels, which ignore it). Subgroups on tiled-policy
 * devices that have them (../policy.ts says why not on SwiftShader); else one invocation per row,
 * vec4 for heads that are a multiple of 4 up to ATTENTION_VEC4_MAX_HS. Measured on SwiftShader,
 * ms per call, scalar vs vec4 (one run of 20 launches each; runs vary): stories260K 2 x 32: forward
 * 2.7 vs 0.9, dq 2.6 vs 0.6, dk/dv 3.8 vs 1.2; 8 x 64: forward 22.8 vs 9.0, dq 28.4 vs 8.2, dk/dv
 * 40.9 vs 13.7; HS 64 (NH 4, KV 2), 2 x 32: forward 5.0 vs 3.3, dq 6.1 vs 4.5, dk/dv 12.1 vs 6.2.
 */
export function selectAttention(policy: KernelPolicy, HS: number): Selection<AttentionKernels> & { subgroupMinSize: number } {
  const size = policy.kernels === 'tiled' ? attentionSubgroupSize(policy, HS) : null;
  if (size) {
    const kernel = { forward: attentionSubgroupForwardKernel, query: attentionSubgroupBackwardQueryKernel, key: attentionSubgroupBackwardKeyKernel };
    return { kernel, subgroupMinSize: size, reason: `subgroups of ${size}: one subgroup per row, lanes over the head` };
  }
  if (attentionVec4(HS)) {
    const kernel = { forward: attentionVec4ForwardKernel, query: attentionVec4BackwardQueryKernel, key: attentionVec4BackwardKeyKernel };
    return { kernel, subgroupMinSize: 0, reason: `one invocation per row, head of ${HS} read as vec4` };
  }
  const kernel = { forward: attentionForwardKernel, query: attentionBackwardQueryKernel, key: attentionBackwardKeyKernel };
  return { kernel, subgroupMinSize: 0, reason: `one invocation per row, head of ${HS} (not a multiple of 4, or over ${ATTENTION_VEC4_MAX_HS})` };
}

/**
 * out, q: [B, T, NH, HS]; k, v: [B, S, KV, HS]; mask: u32 [B, S] (1 real token, 0 padding);
 * lse: [B, NH, T], log-sum-exp of each row's scores, or ATTENTION_NO_KEY_LSE (with out = 0) for a
 * query that may attend to no key. Query t, at p = pos0 + t, attends to keys j <= p with
 * mask[b, j] != 0, and p - window < j with a sliding window; score_j = (q · k_j) · scale
 * (1 / sqrt(HS) unless dims.scale), then softcap · tanh(score_j / softcap) with dims.softcap.
 * Keys outside what a query attends (padding, future, before the window) are never read.
 */
export function attentionForward(
  rec: Recorder,
  out: Tensor,
  lse: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor,
  dims: AttentionDims,
): void {
  const { T, S, NH, KV, HS, pos0 } = dims;
  if (HS < 1 || HS > ATTENTION_MAX_HS) throw new Error(`attention_forward: head size ${HS} is outside 1..${ATTENTION_MAX_HS}`);
  if (KV < 1 || NH % KV !== 0) throw new Error(`attention_forward: ${NH} query heads are not a multiple of ${KV} kv heads`);
  if (pos0 + T > S) throw new Error(`attention_forward: positions up to ${pos0 + T} do not fit a cache of ${S}`);
  if (mask.dtype !== 'u32') throw new Error(`attention_forward: the mask is ${mask.dtype}, u32 expected`);
  checkOptions('attention_forward', dims);
  const { kernel, subgroupMinSize } = selectAttention(rec.ctx.policy, HS);
  rec.run(kernel.forward, { ...dims, subgroupMinSize }, [out, lse, q, k, v, mask]);
}

// Backward, for training: no cache offset (pos0 = 0, S = T), same tensor layouts as the forward so
// that its saved out and lse are used as they are. Three dispatches, deterministic, no atomics:
// prep (per query row: lse and D = dout . out into the scratch), query (per query row: dq) and
// key (per kv row: dk, dv). Each gradient kernel stays within 8 storage bindings.

export interface AttentionBackwardDims extends AttentionOptions {
  B: number;
  T: number; // the sequence length; keys are the same T positions
  NH: number;
  KV: number;
  HS: number;
  /** Accepted so that the forward's dims can be passed; must equal T. */
  S?: number;
  /** Accepted so that the forward's dims can be passed; must be 0. */
  pos0?: number;
}

export const attentionBackwardPrepKernel: KernelSpec<AttentionBackwardDims> = {
  name: 'attention_backward_prep',
  code: composeWgsl({ name: 'attention_backward_prep.wgsl', code: backwardPrepCode }, { name: 'lib/attention_per_row.wgsl', code: perRowCode }),
  bindings: ['read_write', 'read', 'read', 'read'],
  constants: (d) => ({ HS: d.HS }),
  params: (d) => [u32(d.B * d.T * d.NH), u32(d.T), u32(d.NH)],
  dispatch: (d) => grid1d(d.B * d.T * d.NH, 64),
};

export const attentionBackwardQueryKernel: KernelSpec<AttentionBackwardDims> = {
  name: 'attention_backward_query',
  code: perRowModule('attention_backward_query', backwardQueryCode, backwardIo),
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: scoreConstants,
  params: (d) => [u32(d.B * d.T * d.NH), u32(d.T), u32(d.NH), u32(d.KV), f32(scaleOf(d)), u32(windowOf(d, d.T))],
  dispatch: (d) => grid1d(d.B * d.T * d.NH, 64),
};

export const attentionBackwardKeyKernel: KernelSpec<AttentionBackwardDims> = {
  name: 'attention_backward_key',
  code: perRowModule('attention_backward_key', backwardKeyCode, backwardIo),
  bindings: ['read_write', 'read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: scoreConstants,
  params: (d) => [u32(d.B * d.T * d.KV), u32(d.T), u32(d.NH), u32(d.KV), f32(scaleOf(d)), u32(windowOf(d, d.T))],
  dispatch: (d) => grid1d(d.B * d.T * d.KV, 64),
};

export const attentionVec4BackwardQueryKernel: KernelSpec<AttentionBackwardDims> = {
  ...attentionBackwardQueryKernel,
  name: 'attention_vec4_backward_query',
  code: perRowModule('attention_vec4_backward_query', vec4QueryCode, backwardIo),
};

export const attentionVec4BackwardKeyKernel: KernelSpec<AttentionBackwardDims> = {
  ...attentionBackwardKeyKernel,
  name: 'attention_vec4_backward_key',
  code: perRowModule('attention_vec4_backward_key', vec4KeyCode, backwardIo),
};

export const attentionSubgroupBackwardQueryKernel = subgroupVariant(
  attentionBackwardQueryKernel,
  'attention_subgroup_backward_query',
  subgroupModule('attention_subgroup_backward_query', subgroupQueryCode, backwardIo),
  (d) => d.B * d.T * d.NH,
);

export const attentionSubgroupBackwardKeyKernel = subgroupVariant(
  attentionBackwardKeyKernel,
  'attention_subgroup_backward_key',
  subgroupModule('attention_subgroup_backward_key', subgroupKeyCode, backwardIo),
  (d) => d.B * d.T * d.KV,
);

/** The shape of attentionBackward's scratch: a (lse, D) pair per query row, [B, NH, T, 2]. */
export function attentionBackwardScratchShape(dims: AttentionBackwardDims): number[] {
  return [dims.B, dims.NH, dims.T, 2];
}

/**
 * Gradients of causal grouped-query attention (training: pos0 = 0, S = T), written, not accumulated.
 * dq, dout, q, out: [B, T, NH, HS]; dk, dv, k, v: [B, T, KV, HS]; lse: [B, NH, T] and out as saved
 * by attentionForward; mask: u32 [B, T]; dscratch: f32 [B, NH, T, 2] (attentionBackwardScratchShape),
 * overwritten with (lse_i, D_i = dout_i . out_i) per query row. With the raw score
 * r_ij = (q_i . k_j) · scale (1 / sqrt(HS) unless dims.scale), the score s_ij = r_ij or, with
 * dims.softcap = c, c · tanh(r_ij / c), c_ij = ∂s_ij / ∂r_ij (1, or 1 - tanh²(r_ij / c)),
 * p_ij = exp(s_ij - lse_i) and g_ij = p_ij (dout_i . v_j - D_i) c_ij: dq_i = scale · Σ_j g_ij k_j,
 * dk_j = scale · Σ_i g_ij q_i, dv_j = Σ_i p_ij dout_i, over the pairs the forward attends (j <= i,
 * i - window < j with dims.window, real keys), summing over the query heads of j's kv group. Pass
 * the forward's window, softcap and scale. A query with no allowed key gets dq = 0; a padding key
 * gets dk = dv = 0.
 */
export function attentionBackward(
  rec: Recorder,
  dq: Tensor,
  dk: Tensor,
  dv: Tensor,
  dscratch: Tensor,
  dout: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  mask: Tensor,
  dims: AttentionBackwardDims,
): void {
  const { B, T, NH, KV, HS } = dims;
  if (HS < 1 || HS > ATTENTION_MAX_HS) throw new Error(`attention_backward: head size ${HS} is outside 1..${ATTENTION_MAX_HS}`);
  if (KV < 1 || NH % KV !== 0) throw new Error(`attention_backward: ${NH} query heads are not a multiple of ${KV} kv heads`);
  if ((dims.pos0 ?? 0) !== 0 || (dims.S ?? T) !== T) {
    throw new Error(`attention_backward: training attention needs pos0 = 0 and S = T (got pos0 = ${dims.pos0}, S = ${dims.S}, T = ${T})`);
  }
  if (mask.dtype !== 'u32') throw new Error(`attention_backward: the mask is ${mask.dtype}, u32 expected`);
  checkOptions('attention_backward', dims);
  if (dscratch.size < 2 * B * NH * T) {
    throw new Error(`attention_backward: the scratch holds ${dscratch.size} elements, ${2 * B * NH * T} ([B, NH, T, 2]) needed`);
  }
  rec.run(attentionBackwardPrepKernel, dims, [dscratch, dout, out, lse]);
  const { kernel, subgroupMinSize } = selectAttention(rec.ctx.policy, HS);
  rec.run(kernel.query, { ...dims, subgroupMinSize }, [dq, dout, q, k, v, dscratch, mask]);
  rec.run(kernel.key, { ...dims, subgroupMinSize }, [dk, dv, dout, q, k, v, dscratch, mask]);
}
