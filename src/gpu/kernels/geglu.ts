// GeGLU, Gemma's gated MLP activation: gelu(gate) · up elementwise, with the tanh approximation of
// GELU (gelu_pytorch_tanh), the same function as GPT-2's gelu_new (shaders/lib/gelu_tanh.wgsl).
import code from '../../../shaders/geglu_forward.wgsl?raw';
import backwardCode from '../../../shaders/geglu_backward.wgsl?raw';
import { u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { GELU_TANH_PART } from './gelu.js';
import { grid1dKernel } from './grid-1d.js';

export interface GegluDims {
  n: number; // element count, B·T·F
}

export const gegluForwardKernel: KernelSpec<GegluDims> = grid1dKernel(
  'geglu_forward.wgsl',
  { name: 'geglu_forward', code, bindings: ['read_write', 'read', 'read'], params: (d) => [u32(d.n)], workgroupSize: 256, threads: (d) => d.n },
  GELU_TANH_PART,
);

/** out, gate, up: [n]; out = gelu(gate)·up, gelu(g) = 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))). */
export function gegluForward(rec: Recorder, out: Tensor, gate: Tensor, up: Tensor, dims: GegluDims): void {
  rec.run(gegluForwardKernel, dims, [out, gate, up]);
}

export const gegluBackwardKernel: KernelSpec<GegluDims> = grid1dKernel(
  'geglu_backward.wgsl',
  {
    name: 'geglu_backward',
    code: backwardCode,
    bindings: ['read_write', 'read_write', 'read', 'read', 'read'],
    params: (d) => [u32(d.n)],
    workgroupSize: 256,
    threads: (d) => d.n,
  },
  GELU_TANH_PART,
);

/**
 * The gradients of out = gelu(gate)·up: dgate = dout·up·gelu'(gate) (gelu' as in ./gelu.ts's
 * geluBackward) and dup = dout·gelu(gate). All [n]; each output is overwritten.
 */
export function gegluBackward(rec: Recorder, dgate: Tensor, dup: Tensor, dout: Tensor, gate: Tensor, up: Tensor, dims: GegluDims): void {
  rec.run(gegluBackwardKernel, dims, [dgate, dup, dout, gate, up]);
}
