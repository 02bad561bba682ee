// GELU, GPT-2's `gelu_new` (tanh approximation), elementwise over the MLP's hidden activations.
import code from '../../../shaders/gelu_forward.wgsl?raw';
import backwardCode from '../../../shaders/gelu_backward.wgsl?raw';
import geluTanhCode from '../../../shaders/lib/gelu_tanh.wgsl?raw';
import { u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { WgslPart } from '../wgsl.js';
import { grid1dKernel } from './grid-1d.js';
import type { Tensor } from '../tensor.js';

/** gelu_tanh and gelu_tanh_grad (shaders/lib/gelu_tanh.wgsl), shared with the GeGLU kernels (./glu.ts). */
export const GELU_TANH_PART: WgslPart = { name: 'lib/gelu_tanh.wgsl', code: geluTanhCode };

export interface GeluDims {
  n: number; // element count, B·T·4C in GPT-2
}

export const geluForwardKernel: KernelSpec<GeluDims> = grid1dKernel('gelu_forward.wgsl', {
  name: 'gelu_forward',
  code,
  bindings: ['read_write', 'read'],
  params: (d) => [u32(d.n)],
  workgroupSize: 256,
  threads: (d) => d.n,
}, GELU_TANH_PART);

/** out, inp: [n]; out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluForward(rec: Recorder, out: Tensor, inp: Tensor, dims: GeluDims): void {
  rec.run(geluForwardKernel, dims, [out, inp]);
}

export interface GeluBackwardDims {
  n: number; // element count, B·T·4C in GPT-2
  accumulate?: boolean; // add to dinp instead of overwriting it (default false)
}

export const geluBackwardKernel: KernelSpec<GeluBackwardDims> = grid1dKernel('gelu_backward.wgsl', {
  name: 'gelu_backward',
  code: backwardCode,
  bindings: ['read_write', 'read', 'read'],
  constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0 }),
  params: (d) => [u32(d.n)],
  workgroupSize: 256,
  threads: (d) => d.n,
}, GELU_TANH_PART);

/**
 * dinp = dout·gelu'(inp) for gelu_new, written to dinp, or added to it when dims.accumulate is set.
 * With u = √(2/π)·(x + 0.044715·x³) and t = tanh(u):
 * gelu'(x) = 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²). dinp, dout, inp: [n].
 */
export function geluBackward(rec: Recorder, dinp: Tensor, dout: Tensor, inp: Tensor, dims: GeluBackwardDims): void {
  rec.run(geluBackwardKernel, dims, [dinp, dout, inp]);
}
