// The residual connection: the elementwise sum of the residual stream and a block's output.
import code from '../../../shaders/residual_forward.wgsl?raw';
import { u32, type KernelSpec, type Recorder } from '../kernel.js';
import { grid1dKernel } from './grid-1d.js';
import type { Tensor } from '../tensor.js';

export interface ResidualDims {
  n: number; // element count, B·T·C
}

export const residualForwardKernel: KernelSpec<ResidualDims> = grid1dKernel('residual_forward.wgsl', {
  name: 'residual_forward',
  code,
  bindings: ['read_write', 'read', 'read'],
  params: (d) => [u32(d.n)],
  workgroupSize: 256,
  threads: (d) => d.n,
});

/** out, a, b: [n]; out = a + b. out must be a different buffer from a and b. */
export function residualForward(rec: Recorder, out: Tensor, a: Tensor, b: Tensor, dims: ResidualDims): void {
  rec.run(residualForwardKernel, dims, [out, a, b]);
}
