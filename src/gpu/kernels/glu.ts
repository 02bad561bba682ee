// Gated linear units, the MLP gates: out = act(gate)·up elementwise, and its backward, one kernel
// pair (shaders/glu_forward.wgsl, glu_backward.wgsl) composed with the gate's activation:
//   SwiGLU (Llama, Qwen, SmolLM): act = silu, shaders/lib/glu_silu.wgsl;
//   GeGLU (Gemma): act = the tanh GELU (gelu_pytorch_tanh), shaders/lib/glu_gelu_tanh.wgsl with
//   lib/gelu_tanh.wgsl (the function GPT-2's gelu_new uses, ./gelu.ts).
import forwardCode from '../../../shaders/glu_forward.wgsl?raw';
import backwardCode from '../../../shaders/glu_backward.wgsl?raw';
import geluGateCode from '../../../shaders/lib/glu_gelu_tanh.wgsl?raw';
import siluGateCode from '../../../shaders/lib/glu_silu.wgsl?raw';
import { u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import type { WgslPart } from '../wgsl.js';
import { GELU_TANH_PART } from './gelu.js';
import { grid1dKernel } from './grid-1d.js';

export interface GluDims {
  n: number; // element count, B·T·F
}

/** The forward and backward kernels of a gated unit whose activation is `parts` (gate_act, gate_act_grad). */
function gluKernels(name: string, ...parts: WgslPart[]): { forward: KernelSpec<GluDims>; backward: KernelSpec<GluDims> } {
  const params = (d: GluDims) => [u32(d.n)];
  return {
    forward: grid1dKernel('glu_forward.wgsl', { name: `${name}_forward`, code: forwardCode, bindings: ['read_write', 'read', 'read'], params, workgroupSize: 256, threads: (d) => d.n }, ...parts),
    backward: grid1dKernel(
      'glu_backward.wgsl',
      { name: `${name}_backward`, code: backwardCode, bindings: ['read_write', 'read_write', 'read', 'read', 'read'], params, workgroupSize: 256, threads: (d) => d.n },
      ...parts,
    ),
  };
}

export const SWIGLU = gluKernels('swiglu', { name: 'lib/glu_silu.wgsl', code: siluGateCode });
export const GEGLU = gluKernels('geglu', { name: 'lib/glu_gelu_tanh.wgsl', code: geluGateCode }, GELU_TANH_PART);

/** out, gate, up: [n]; out = silu(gate)·up, silu(g) = g / (1 + exp(−g)). */
export function swigluForward(rec: Recorder, out: Tensor, gate: Tensor, up: Tensor, dims: GluDims): void {
  rec.run(SWIGLU.forward, dims, [out, gate, up]);
}

/**
 * The gradients of out = silu(gate)·up: dgate = dout·up·silu'(gate) with
 * silu'(g) = σ(g)·(1 + g·(1 − σ(g))), and dup = dout·silu(gate). All [n]; each output is overwritten.
 */
export function swigluBackward(rec: Recorder, dgate: Tensor, dup: Tensor, dout: Tensor, gate: Tensor, up: Tensor, dims: GluDims): void {
  rec.run(SWIGLU.backward, dims, [dgate, dup, dout, gate, up]);
}

/** out, gate, up: [n]; out = gelu(gate)·up, gelu(g) = 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))). */
export function gegluForward(rec: Recorder, out: Tensor, gate: Tensor, up: Tensor, dims: GluDims): void {
  rec.run(GEGLU.forward, dims, [out, gate, up]);
}

/**
 * The gradients of out = gelu(gate)·up: dgate = dout·up·gelu'(gate) (gelu' as in ./gelu.ts's
 * geluBackward) and dup = dout·gelu(gate). All [n]; each output is overwritten.
 */
export function gegluBackward(rec: Recorder, dgate: Tensor, dup: Tensor, dout: Tensor, gate: Tensor, up: Tensor, dims: GluDims): void {
  rec.run(GEGLU.backward, dims, [dgate, dup, dout, gate, up]);
}
