// The low-rank update of a LoRA-wrapped linear layer: out[M, N] += s · u[M, R] · loraB[N, R]ᵀ,
// with u = x·Aᵀ computed by matmulForward. The whole layer, forward and backward, is composed in
// src/model/linear.ts from matmulForward, matmulLoraForward (which fuses this update into the
// base product), matmulBackward, matmulLoraBackward (du·A fused into dy·W) and matmulWeightGrad;
// this launch serves where no fused form fits (decoding's few rows, a rank not a multiple of 4).
import code from '../../../shaders/lora_forward.wgsl?raw';
import { f32, u32, type KernelSpec, type Recorder } from '../kernel.js';
import { grid1dKernel } from './grid-1d.js';
import type { Tensor } from '../tensor.js';
import { matmulReg4x4ForwardKernel } from './matmul/forward.js';
import { requireF32 } from './weight-format.js';

export interface LoraForwardDims {
  M: number; // rows of u and out (B·T)
  N: number; // output features: columns of out, rows of loraB
  R: number; // LoRA rank: columns of u and loraB
  scale: number; // s
}

export const loraForwardKernel: KernelSpec<LoraForwardDims> = grid1dKernel('lora_forward.wgsl', {
  name: 'lora_forward',
  code,
  bindings: ['read_write', 'read', 'read'],
  params: (d) => [u32(d.M), u32(d.N), u32(d.R), f32(d.scale)],
  workgroupSize: 64,
  threads: (d) => Math.ceil(d.N / 4) * Math.ceil(d.M / 4),
});

function check(kernel: string, dims: object, tensors: Array<[Tensor, number, string]>): void {
  for (const [t, want, what] of tensors) {
    if (t.size < want) {
      const shape = Object.entries(dims)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (${shape})`);
    }
  }
}

/**
 * out: [M, N], updated in place; u: [M, R]; loraB: [N, R]. out += scale · u · loraBᵀ. When R is a
 * multiple of 4 (the usual ranks) this is matmul_reg4x4_forward with K = R, accumulating and
 * scaled (vec4 loads); otherwise lora_forward.
 */
export function loraForward(rec: Recorder, out: Tensor, u: Tensor, loraB: Tensor, dims: LoraForwardDims): void {
  const { M, N, R } = dims;
  requireF32('lora_forward', [[out, 'out'], [u, 'u'], [loraB, 'loraB']]);
  check('lora_forward', { M, N, R }, [
    [out, M * N, 'out'],
    [u, M * R, 'u'],
    [loraB, N * R, 'loraB'],
  ]);
  if (M === 0 || N === 0 || R === 0) return;
  // loraB (f32, N·R ≥ 4 elements) is the kernel's weight, and fills the bias and fused-update
  // slots too, unread (no bias, no HAS_LORA).
  const unread = [loraB, loraB, loraB];
  if (R % 4 === 0) rec.run(matmulReg4x4ForwardKernel.formats.f32, { M, N, K: R, hasBias: false, accumulate: true, scale: dims.scale }, [out, u, loraB, ...unread]);
  else rec.run(loraForwardKernel, dims, [out, u, loraB]);
}
