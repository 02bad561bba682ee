// RMSNorm over the last dimension (Llama, Qwen; Qwen3's and Gemma's per-head q/k norms use it with
// C = HS), scaling by weight, or by 1 + weight for Gemma (the ONE_PLUS_WEIGHT override).
import code from '../../../shaders/rmsnorm_forward.wgsl?raw';
import backwardCode from '../../../shaders/rmsnorm_backward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { selectRowReduction, type KernelPolicy } from '../policy.js';

export interface RmsnormDims {
  rows: number; // B·T (or B·T·NH for a per-head norm)
  C: number; // the normalized width
  eps: number;
  /** Scale by 1 + weight (Gemma) instead of weight; default false. */
  onePlusWeight?: boolean;
}

export const rmsnormForwardKernel: KernelSpec<RmsnormDims> = {
  name: 'rmsnorm_forward',
  code,
  bindings: ['read_write', 'read_write', 'read', 'read'],
  constants: (d) => ({ ONE_PLUS_WEIGHT: d.onePlusWeight ? 1 : 0 }),
  params: (d) => [u32(d.rows), u32(d.C), f32(d.eps)],
  dispatch: (d) => grid1d(d.rows, 1),
};

/** The barrier-free variant (one invocation per row), for devices where barriers are slow. */
export const rmsnormForwardPerRowKernel: KernelSpec<RmsnormDims> = {
  ...rmsnormForwardKernel,
  entryPoint: 'per_row',
  dispatch: (d) => grid1d(d.rows, 64),
};

/** The RMSNorm forward kernel of a device with this policy. */
export const selectRmsnormForward = (policy: KernelPolicy) =>
  selectRowReduction(policy, { perRow: rmsnormForwardPerRowKernel, workgroup: rmsnormForwardKernel });

/** out = inp·rstd·w with w = weight (or 1 + weight, dims.onePlusWeight); out, inp: [rows, C]; weight: [C]; rstd: [rows]. */
export function rmsnormForward(rec: Recorder, out: Tensor, rstd: Tensor, inp: Tensor, weight: Tensor, dims: RmsnormDims): void {
  const { kernel } = selectRmsnormForward(rec.ctx.policy);
  rec.run(kernel, dims, [out, rstd, inp, weight]);
}

export interface RmsnormBackwardDims {
  rows: number; // B·T (or B·T·NH for a per-head norm)
  C: number; // the normalized width
  accumulate?: boolean; // add to dinp instead of overwriting it (default false)
  /** The forward scaled by 1 + weight (Gemma); default false. */
  onePlusWeight?: boolean;
}

export const rmsnormBackwardKernel: KernelSpec<RmsnormBackwardDims> = {
  name: 'rmsnorm_backward',
  code: backwardCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0, ONE_PLUS_WEIGHT: d.onePlusWeight ? 1 : 0 }),
  params: (d) => [u32(d.rows), u32(d.C)],
  dispatch: (d) => grid1d(d.rows, 1),
};

/** The barrier-free variant (one invocation per row), for devices where barriers are slow. */
export const rmsnormBackwardPerRowKernel: KernelSpec<RmsnormBackwardDims> = {
  ...rmsnormBackwardKernel,
  entryPoint: 'per_row',
  dispatch: (d) => grid1d(d.rows, 64),
};

/** The RMSNorm backward kernel of a device with this policy. */
export const selectRmsnormBackward = (policy: KernelPolicy) =>
  selectRowReduction(policy, { perRow: rmsnormBackwardPerRowKernel, workgroup: rmsnormBackwardKernel });

/**
 * The input gradient of RMSNorm with a frozen weight w (weight, or 1 + weight with dims.onePlusWeight):
 * dinp = rstd·(w ⊙ dout) − inp·rstd³/C·Σ_c(w·dout·inp),
 * written to dinp, or added to it when dims.accumulate is set.
 * dinp, dout, inp: [rows, C]; weight: [C]; rstd: [rows] as saved by rmsnormForward.
 */
export function rmsnormBackward(
  rec: Recorder,
  dinp: Tensor,
  dout: Tensor,
  inp: Tensor,
  weight: Tensor,
  rstd: Tensor,
  dims: RmsnormBackwardDims,
): void {
  const { kernel } = selectRmsnormBackward(rec.ctx.policy);
  rec.run(kernel, dims, [dinp, dout, inp, weight, rstd]);
}
