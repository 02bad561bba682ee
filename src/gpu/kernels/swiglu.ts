// SwiGLU, the gated MLP activation of Llama and Qwen: silu(gate) · up, elementwise.
import code from '../../../shaders/swiglu_forward.wgsl?raw';
import { grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export interface SwigluDims {
  n: number; // element count, B·T·F
}

export const swigluForwardKernel: KernelSpec<SwigluDims> = {
  name: 'swiglu_forward',
  code,
  bindings: ['read_write', 'read', 'read'],
  params: (d) => [u32(d.n)],
  dispatch: (d) => grid1d(d.n, 256),
};

/** out, gate, up: [n]; out = gate / (1 + exp(−gate)) · up. */
export function swigluForward(rec: Recorder, out: Tensor, gate: Tensor, up: Tensor, dims: SwigluDims): void {
  rec.run(swigluForwardKernel, dims, [out, gate, up]);
}
