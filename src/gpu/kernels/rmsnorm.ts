// RMSNorm over the last dimension (Llama, Qwen; Qwen3's per-head q/k norm uses it with C = HS).
import code from '../../../shaders/rmsnorm_forward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export interface RmsnormDims {
  rows: number; // B·T (or B·T·NH for a per-head norm)
  C: number; // the normalized width
  eps: number;
}

export const rmsnormForwardKernel: KernelSpec<RmsnormDims> = {
  name: 'rmsnorm_forward',
  code,
  bindings: ['read_write', 'read_write', 'read', 'read'],
  params: (d) => [u32(d.rows), u32(d.C), f32(d.eps)],
  dispatch: (d) => grid1d(d.rows, 1),
};

/** out, inp: [rows, C]; weight: [C]; rstd: [rows]. */
export function rmsnormForward(rec: Recorder, out: Tensor, rstd: Tensor, inp: Tensor, weight: Tensor, dims: RmsnormDims): void {
  rec.run(rmsnormForwardKernel, dims, [out, rstd, inp, weight]);
}
