// LayerNorm over the last dimension (GPT-2's ln_1, ln_2 and ln_f).
import code from '../../../shaders/layernorm_forward.wgsl?raw';
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
