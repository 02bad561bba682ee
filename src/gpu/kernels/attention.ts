// Causal scaled-dot-product attention with grouped-query heads and a key padding mask, reading
// keys and values from a KV-cache layout [B, S, KV, HS]; flash-style online softmax, O(T) memory.
// Each of the forward, dq and dk/dv kernels comes in three variants with the same results: one
// invocation per row (attention_*.wgsl), the same reading four dimensions at a time for head sizes
// that are a multiple of 4 up to ATTENTION_VEC4_MAX_HS (attention_vec4_*.wgsl), and one subgroup per
// row with the lanes splitting the head dimension (attention_subgroup_*.wgsl). The launchers choose
// per device (preferSubgroupAttention in barrier-policy.ts: subgroups on real GPUs that have them,
// the per-row kernels on SwiftShader), and among the per-row kernels by head size (attentionVec4).
import code from '../../../shaders/attention_forward.wgsl?raw';
import backwardKeyCode from '../../../shaders/attention_backward_key.wgsl?raw';
import backwardPrepCode from '../../../shaders/attention_backward_prep.wgsl?raw';
import backwardQueryCode from '../../../shaders/attention_backward_query.wgsl?raw';
import subgroupKeyCode from '../../../shaders/attention_subgroup_backward_key.wgsl?raw';
import subgroupQueryCode from '../../../shaders/attention_subgroup_backward_query.wgsl?raw';
import subgroupForwardCode from '../../../shaders/attention_subgroup_forward.wgsl?raw';
import vec4KeyCode from '../../../shaders/attention_vec4_backward_key.wgsl?raw';
import vec4QueryCode from '../../../shaders/attention_vec4_backward_query.wgsl?raw';
import vec4ForwardCode from '../../../shaders/attention_vec4_forward.wgsl?raw';
import type { GpuContext } from '../device.js';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { preferSubgroupAttention } from './barrier-policy.js';

export interface AttentionDims {
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

export const attentionForwardKernel: KernelSpec<AttentionDims> = {
  name: 'attention_forward',
  code,
  bindings: ['read_write', 'read_write', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HS: d.HS }),
  params: (d) => [u32(d.B * d.T * d.NH), u32(d.T), u32(d.S), u32(d.NH), u32(d.KV), u32(d.pos0), f32(1 / Math.sqrt(d.HS))],
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
  code: vec4ForwardCode,
};

// The subgroup variants (attention_subgroup_*.wgsl): one subgroup per row, its lanes splitting the
// head dimension, for devices with subgroups and the subgroup_id builtins. Same bindings, params
// and results as the per-row kernels; the launch dimensions add the adapter's smallest subgroup
// size, which sets how many rows a workgroup takes and how many dimensions a lane may hold.

/** Invocations per workgroup of the subgroup kernels (WG in their .wgsl files). */
const SUBGROUP_WG = 128;
/** The most head dimensions one lane holds (MAX_DIMS_PER_LANE in the .wgsl files). */
export const ATTENTION_MAX_DIMS_PER_LANE = 64;

/** A launch of a subgroup kernel: the per-row kernel's dimensions and the adapter's subgroupMinSize. */
export type WithSubgroupSize<D> = D & { subgroupMinSize: number };

/**
 * The subgroup variant of a per-row kernel: its bindings and params, with `rows` rows (one
 * subgroup each) in workgroups of SUBGROUP_WG / subgroupMinSize rows.
 */
function subgroupVariant<D extends { HS: number }>(
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
    constants: (d) => ({ HS: d.HS, DIMS_PER_LANE: Math.ceil(d.HS / d.subgroupMinSize), ROWS_PER_WG: SUBGROUP_WG / d.subgroupMinSize }),
    dispatch: (d) => grid1d(rows(d), SUBGROUP_WG / d.subgroupMinSize),
  };
}

/**
 * The smallest subgroup size the device may run with, when the subgroup attention kernels can
 * run on it with head size HS (subgroups, the subgroup_id builtins, and ceil(HS / size) within
 * ATTENTION_MAX_DIMS_PER_LANE); null otherwise. An adapter that does not report its sizes is
 * taken at WebGPU's smallest, 4.
 */
export function attentionSubgroupSize(ctx: GpuContext, HS: number): number | null {
  if (!ctx.features.subgroupId) return null;
  const size = ctx.adapterInfo.subgroupMinSize || 4;
  return SUBGROUP_WG % size === 0 && Math.ceil(HS / size) <= ATTENTION_MAX_DIMS_PER_LANE ? size : null;
}

export const attentionSubgroupForwardKernel = subgroupVariant(attentionForwardKernel, 'attention_subgroup_forward', subgroupForwardCode, (d) => d.B * d.T * d.NH);

/**
 * out, q: [B, T, NH, HS]; k, v: [B, S, KV, HS]; mask: u32 [B, S] (1 real token, 0 padding);
 * lse: [B, NH, T], log-sum-exp of each row's scores, or ATTENTION_NO_KEY_LSE (with out = 0) for a
 * query that may attend to no key. Query t attends to keys j <= pos0 + t with mask[b, j] != 0.
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
  const subgroupMinSize = preferSubgroupAttention(rec.ctx) ? attentionSubgroupSize(rec.ctx, HS) : null;
  if (subgroupMinSize) rec.run(attentionSubgroupForwardKernel, { ...dims, subgroupMinSize }, [out, lse, q, k, v, mask]);
  else rec.run(attentionVec4(HS) ? attentionVec4ForwardKernel : attentionForwardKernel, dims, [out, lse, q, k, v, mask]);
}

// Backward, for training: no cache offset (pos0 = 0, S = T), same tensor layouts as the forward so
// that its saved out and lse are used as they are. Three dispatches, deterministic, no atomics:
// prep (per query row: lse and D = dout . out into the scratch), query (per query row: dq) and
// key (per kv row: dk, dv). Each gradient kernel stays within 8 storage bindings.

export interface AttentionBackwardDims {
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
  code: backwardPrepCode,
  bindings: ['read_write', 'read', 'read', 'read'],
  constants: (d) => ({ HS: d.HS }),
  params: (d) => [u32(d.B * d.T * d.NH), u32(d.T), u32(d.NH)],
  dispatch: (d) => grid1d(d.B * d.T * d.NH, 64),
};

export const attentionBackwardQueryKernel: KernelSpec<AttentionBackwardDims> = {
  name: 'attention_backward_query',
  code: backwardQueryCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HS: d.HS }),
  params: (d) => [u32(d.B * d.T * d.NH), u32(d.T), u32(d.NH), u32(d.KV), f32(1 / Math.sqrt(d.HS))],
  dispatch: (d) => grid1d(d.B * d.T * d.NH, 64),
};

export const attentionBackwardKeyKernel: KernelSpec<AttentionBackwardDims> = {
  name: 'attention_backward_key',
  code: backwardKeyCode,
  bindings: ['read_write', 'read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HS: d.HS }),
  params: (d) => [u32(d.B * d.T * d.KV), u32(d.T), u32(d.NH), u32(d.KV), f32(1 / Math.sqrt(d.HS))],
  dispatch: (d) => grid1d(d.B * d.T * d.KV, 64),
};

export const attentionVec4BackwardQueryKernel: KernelSpec<AttentionBackwardDims> = {
  ...attentionBackwardQueryKernel,
  name: 'attention_vec4_backward_query',
  code: vec4QueryCode,
};

export const attentionVec4BackwardKeyKernel: KernelSpec<AttentionBackwardDims> = {
  ...attentionBackwardKeyKernel,
  name: 'attention_vec4_backward_key',
  code: vec4KeyCode,
};

export const attentionSubgroupBackwardQueryKernel = subgroupVariant(
  attentionBackwardQueryKernel,
  'attention_subgroup_backward_query',
  subgroupQueryCode,
  (d) => d.B * d.T * d.NH,
);

export const attentionSubgroupBackwardKeyKernel = subgroupVariant(
  attentionBackwardKeyKernel,
  'attention_subgroup_backward_key',
  subgroupKeyCode,
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
 * overwritten with (lse_i, D_i = dout_i . out_i) per query row. With s_ij = q_i . k_j / sqrt(HS),
 * p_ij = exp(s_ij - lse_i) and ds_ij = p_ij (dout_i . v_j - D_i): dq_i = Σ_j ds_ij k_j / sqrt(HS),
 * dk_j = Σ_i ds_ij q_i / sqrt(HS), dv_j = Σ_i p_ij dout_i, summing over the query heads of j's kv
 * group. A query with no allowed key gets dq = 0; a padding key gets dk = dv = 0.
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
  if (dscratch.size < 2 * B * NH * T) {
    throw new Error(`attention_backward: the scratch holds ${dscratch.size} elements, ${2 * B * NH * T} ([B, NH, T, 2]) needed`);
  }
  rec.run(attentionBackwardPrepKernel, dims, [dscratch, dout, out, lse]);
  const subgroupMinSize = preferSubgroupAttention(rec.ctx) ? attentionSubgroupSize(rec.ctx, HS) : null;
  if (subgroupMinSize) {
    rec.run(attentionSubgroupBackwardQueryKernel, { ...dims, subgroupMinSize }, [dq, dout, q, k, v, dscratch, mask]);
    rec.run(attentionSubgroupBackwardKeyKernel, { ...dims, subgroupMinSize }, [dk, dv, dout, q, k, v, dscratch, mask]);
  } else {
    const vec4 = attentionVec4(HS);
    rec.run(vec4 ? attentionVec4BackwardQueryKernel : attentionBackwardQueryKernel, dims, [dq, dout, q, k, v, dscratch, mask]);
    rec.run(vec4 ? attentionVec4BackwardKeyKernel : attentionBackwardKeyKernel, dims, [dk, dv, dout, q, k, v, dscratch, mask]);
  }
}
