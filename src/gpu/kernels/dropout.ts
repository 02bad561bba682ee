// Inverted dropout with a mask hashed from (seed, step, stream, element index): see
// shaders/dropout_forward.wgsl for the math. LoRA dropout (src/model/linear.ts) drops its input
// x with it in the forward pass, and in the backward pass regenerates the dropped input and masks
// the input gradient with the same kernel.
import code from '../../../shaders/dropout_forward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

/** Which mask: the same key always gives the same mask. Each field is a u32. */
export interface DropoutKey {
  seed: number; // of the training run
  step: number; // the training pass: a new mask every pass
  stream: number; // the projection: independent masks for different layers and modules
}

export interface DropoutDims extends DropoutKey {
  n: number; // element count
  p: number; // drop probability, 0 ≤ p < 1
  accumulate?: boolean; // out += dropout(inp) instead of out = dropout(inp); default false
}

/** keep(i) ⇔ h(i) ≥ threshold: floor(p · 2³²), so that a fraction 1 − p of hashes pass. */
export function dropoutThreshold(p: number): number {
  return Math.min(2 ** 32 - 1, Math.floor(p * 2 ** 32));
}

export const dropoutForwardKernel: KernelSpec<DropoutDims> = {
  name: 'dropout_forward',
  code,
  bindings: ['read_write', 'read'],
  constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0 }),
  params: (d) => [u32(d.n), u32(d.seed), u32(d.step), u32(d.stream), u32(dropoutThreshold(d.p)), f32(1 / (1 - d.p))],
  dispatch: (d) => grid1d(d.n, 256),
};

const isU32 = (v: number) => Number.isInteger(v) && v >= 0 && v < 2 ** 32;

/** out, inp: [n]; out (+)= mask ⊙ inp / (1 − p). out must be a different buffer from inp. */
export function dropoutForward(rec: Recorder, out: Tensor, inp: Tensor, dims: DropoutDims): void {
  const { n, p, seed, step, stream } = dims;
  if (!(p >= 0 && p < 1)) throw new Error(`dropout_forward: p must be in [0, 1), got ${p}`);
  for (const [name, v] of Object.entries({ seed, step, stream })) {
    if (!isU32(v)) throw new Error(`dropout_forward: ${name} must be an integer in [0, 2³²), got ${v}`);
  }
  if (out.size < n || inp.size < n) throw new Error(`dropout_forward: n=${n} for out [${out.size}] and inp [${inp.size}]`);
  if (n === 0) return;
  rec.run(dropoutForwardKernel, dims, [out, inp]);
}
