// LayerNorm over the last dimension (GPT-2's ln_1, ln_2 and ln_f).
import code from '../../../shaders/layernorm_forward.wgsl?raw';
import backwardCode from '../../../shaders/layernorm_backward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export interface LayernormDims {
  rows: number; // B·T
  C: number; // the normalized width
  eps: number; // GPT-2: 1e-5
}

export const layernormForwardKernel: KernelSpec<LayernormDims> = {
  name: 'layernorm_forward',
  code,
  bindings: ['read_write', 'read_write', 'read_write', 'read', 'read', 'read'],
  params: (d) => [u32(d.rows), u32(d.C), f32(d.eps)],
  dispatch: (d) => grid1d(d.rows, 1),
};

/** out, inp: [rows, C]; weight, bias: [C]; mean, rstd: [rows] (saved for the backward pass). */
export function layernormForward(
  rec: Recorder,
  out: Tensor,
  mean: Tensor,
  rstd: Tensor,
  inp: Tensor,
  weight: Tensor,
  bias: Tensor,
  dims: LayernormDims,
): void {
  rec.run(layernormForwardKernel, dims, [out, mean, rstd, inp, weight, bias]);
}

export interface LayernormBackwardDims {
  rows: number; // B·T
  C: number; // the normalized width
  accumulate?: boolean; // add to dinp instead of overwriting it (default false)
}

export const layernormBackwardKernel: KernelSpec<LayernormBackwardDims> = {
  name: 'layernorm_backward',
  code: backwardCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0 }),
  params: (d) => [u32(d.rows), u32(d.C)],
  dispatch: (d) => grid1d(d.rows, 1),
};

/**
 * The input gradient of LayerNorm with frozen weight and bias: with xhat = (inp − mean)·rstd and
 * g = weight ⊙ dout, dinp = rstd·(g − mean_c(g) − xhat·mean_c(g ⊙ xhat)), written to dinp, or added to
 * it when dims.accumulate is set.
 * dinp, dout, inp: [rows, C]; weight: [C]; mean, rstd: [rows] as saved by layernormForward.
 */
export function layernormBackward(
  rec: Recorder,
  dinp: Tensor,
  dout: Tensor,
  inp: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dims: LayernormBackwardDims,
): void {
  rec.run(layernormBackwardKernel, dims, [dinp, dout, inp, weight, mean, rstd]);
}
