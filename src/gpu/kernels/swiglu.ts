// SwiGLU, the gated MLP activation of Llama and Qwen: silu(gate) · up, elementwise.
import code from '../../../shaders/swiglu_forward.wgsl?raw';
import backwardCode from '../../../shaders/swiglu_backward.wgsl?raw';
import { u32, type KernelSpec, type Recorder } from '../kernel.js';
import { grid1dKernel } from './grid-1d.js';
import type { Tensor } from '../tensor.js';

export interface SwigluDims {
  n: number; // element count, B·T·F
}

export const swigluForwardKernel: KernelSpec<SwigluDims> = grid1dKernel('swiglu_forward.wgsl', {
  name: 'swiglu_forward',
  code,
  bindings: ['read_write', 'read', 'read'],
  params: (d) => [u32(d.n)],
  workgroupSize: 256,
  threads: (d) => d.n,
});

/** out, gate, up: [n]; out = gate / (1 + exp(−gate)) · up. */
export function swigluForward(rec: Recorder, out: Tensor, gate: Tensor, up: Tensor, dims: SwigluDims): void {
  rec.run(swigluForwardKernel, dims, [out, gate, up]);
}

export const swigluBackwardKernel: KernelSpec<SwigluDims> = grid1dKernel('swiglu_backward.wgsl', {
  name: 'swiglu_backward',
  code: backwardCode,
  bindings: ['read_write', 'read_write', 'read', 'read', 'read'],
  params: (d) => [u32(d.n)],
  workgroupSize: 256,
  threads: (d) => d.n,
});

/**
 * The gradients of out = silu(gate)·up: dgate = dout·up·silu'(gate) with
 * silu'(g) = σ(g)·(1 + g·(1 − σ(g))), and dup = dout·silu(gate). All [n]; each output is overwritten.
 */
export function swigluBackward(
  rec: Recorder,
  dgate: Tensor,
  dup: Tensor,
  dout: Tensor,
  gate: Tensor,
  up: Tensor,
  dims: SwigluDims,
): void {
  rec.run(swigluBackwardKernel, dims, [dgate, dup, dout, gate, up]);
}
