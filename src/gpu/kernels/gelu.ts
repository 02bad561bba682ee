// GELU, GPT-2's `gelu_new` (tanh approximation), elementwise over the MLP's hidden activations.
import code from '../../../shaders/gelu_forward.wgsl?raw';
import { grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export interface GeluDims {
  n: number; // element count, B·T·4C in GPT-2
}

export const geluForwardKernel: KernelSpec<GeluDims> = {
  name: 'gelu_forward',
  code,
  bindings: ['read_write', 'read'],
  params: (d) => [u32(d.n)],
  dispatch: (d) => grid1d(d.n, 256),
};

/** out, inp: [n]; out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluForward(rec: Recorder, out: Tensor, inp: Tensor, dims: GeluDims): void {
  rec.run(geluForwardKernel, dims, [out, inp]);
}
