// Logit softcapping (Gemma's final_logit_softcapping): logits → cap·tanh(logits / cap), in place
// over a chunk of logits. Its derivative is taken by crossentropyBackward (./crossentropy.ts, its
// `softcap`), which reads the capped logits: d capped / d raw = 1 − (capped / cap)².
import code from '../../../shaders/softcap_forward.wgsl?raw';
import { f32, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { grid1dKernel } from './grid-1d.js';

export interface SoftcapDims {
  n: number; // elements: rows·V of a logits chunk
  cap: number; // > 0
}

export const softcapForwardKernel: KernelSpec<SoftcapDims> = grid1dKernel('softcap_forward.wgsl', {
  name: 'softcap_forward',
  code,
  bindings: ['read_write'],
  params: (d) => [u32(d.n), f32(d.cap)],
  workgroupSize: 256,
  threads: (d) => d.n,
});

/** x[0 .. n) = cap·tanh(x / cap) in place; x: at least [n]. */
export function softcapForward(rec: Recorder, x: Tensor, dims: SoftcapDims): void {
  if (!(dims.cap > 0) || !Number.isFinite(dims.cap)) throw new Error(`softcap_forward: cap ${dims.cap} must be a positive number`);
  if (x.size < dims.n) throw new Error(`softcap_forward: ${x.size} elements, ${dims.n} needed`);
  if (dims.n === 0) return;
  rec.run(softcapForwardKernel, dims, [x]);
}
