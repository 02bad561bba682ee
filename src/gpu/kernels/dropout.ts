// Inverted dropout with a mask hashed from (seed, step, stream, element index): see
// shaders/dropout_forward.wgsl for the math. LoRA dropout (src/model/linear.ts) drops its input
// x with it in the forward pass, and in the backward pass regenerates the dropped input and masks
// the input gradient with the same kernel.
import code from '../../../shaders/dropout_forward.wgsl?raw';
import { f32, u32, type KernelSpec, type Recorder } from '../kernel.js';
import { grid1dKernel } from './grid-1d.js';
import type { GpuContext } from '../device.js';
import { writeTensor, type Tensor } from '../tensor.js';

/** Which mask: the same key always gives the same mask. Each field is a u32. */
export interface DropoutKey {
  seed: number; // of the training run
  step: number; // the training pass: a new mask every pass
  stream: number; // the projection: independent masks for different layers and modules
}

/** A launch: the key but its step, which the launch reads from a buffer (writeDropoutStep). */
export interface DropoutDims extends Omit<DropoutKey, 'step'> {
  n: number; // element count
  p: number; // drop probability, 0 ≤ p < 1
  accumulate?: boolean; // out += dropout(inp) instead of out = dropout(inp); default false
}

/** keep(i) ⇔ h(i) ≥ threshold: floor(p · 2³²), so that a fraction 1 − p of hashes pass. */
export function dropoutThreshold(p: number): number {
  return Math.min(2 ** 32 - 1, Math.floor(p * 2 ** 32));
}

/** Bindings: out, inp, step ([1] u32). */
export const dropoutForwardKernel: KernelSpec<DropoutDims> = grid1dKernel('dropout_forward.wgsl', {
  name: 'dropout_forward',
  code,
  bindings: ['read_write', 'read', 'read'],
  constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0 }),
  params: (d) => [u32(d.n), u32(d.seed), u32(d.stream), u32(dropoutThreshold(d.p)), f32(1 / (1 - d.p))],
  workgroupSize: 256,
  threads: (d) => d.n,
});

const isU32 = (v: number) => Number.isInteger(v) && v >= 0 && v < 2 ** 32;

/**
 * Writes the training pass's step (a u32) into `step` ([1] u32) on the queue. The dropout launches
 * read it when they run, so every launch of one pass must be submitted after this write and
 * before the next pass's: the training pass writes it first, then records and submits (queue order
 * does the rest).
 */
export function writeDropoutStep(ctx: GpuContext, step: Tensor, value: number): void {
  if (step.dtype !== 'u32' || step.size < 1) throw new Error(`dropout_forward: the step buffer must be one u32, got ${step.dtype} [${step.size}]`);
  if (!isU32(value)) throw new Error(`dropout_forward: step must be an integer in [0, 2³²), got ${value}`);
  writeTensor(ctx, step, Uint32Array.of(value));
}

/**
 * out, inp: [n]; out (+)= mask ⊙ inp / (1 − p), the mask keyed by (seed, the value in `step`, stream).
 * out must be a different buffer from inp.
 */
export function dropoutForward(rec: Recorder, out: Tensor, inp: Tensor, step: Tensor, dims: DropoutDims): void {
  const { n, p, seed, stream } = dims;
  if (!(p >= 0 && p < 1)) throw new Error(`dropout_forward: p must be in [0, 1), got ${p}`);
  for (const [name, v] of Object.entries({ seed, stream })) {
    if (!isU32(v)) throw new Error(`dropout_forward: ${name} must be an integer in [0, 2³²), got ${v}`);
  }
  if (step.dtype !== 'u32' || step.size < 1) throw new Error(`dropout_forward: the step buffer must be one u32, got ${step.dtype} [${step.size}]`);
  if (out.size < n || inp.size < n) throw new Error(`dropout_forward: n=${n} for out [${out.size}] and inp [${inp.size}]`);
  if (n === 0) return;
  rec.run(dropoutForwardKernel, dims, [out, inp, step]);
}
