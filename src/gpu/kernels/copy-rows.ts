// Copy a block of n rows (positions) of width C per sequence between two [B, *, C] tensors: writes
// a new K/V block into the KV cache, and picks the last position of each sequence. No backward.
import code from '../../../shaders/copy_rows.wgsl?raw';
import { u32, type KernelSpec, type Recorder } from '../kernel.js';
import { grid1dKernel } from './grid-1d.js';
import type { Tensor } from '../tensor.js';

export interface CopyRowsDims {
  B: number; // sequences
  n: number; // rows copied per sequence
  C: number; // row width
  inT: number; // rows per sequence in inp
  inStart: number; // first row read in each sequence of inp
  outT: number; // rows per sequence in out
  outStart: number; // first row written in each sequence of out
}

export const copyRowsKernel: KernelSpec<CopyRowsDims> = grid1dKernel('copy_rows.wgsl', {
  name: 'copy_rows',
  code,
  bindings: ['read_write', 'read'],
  params: (d) => [u32(d.B), u32(d.n), u32(d.C), u32(d.inT), u32(d.inStart), u32(d.outT), u32(d.outStart)],
  workgroupSize: 256,
  threads: (d) => d.B * d.n * d.C,
});

/**
 * out[b, outStart + t, :] = inp[b, inStart + t, :] for b < B, t < n; inp: [B, inT, C], out: [B, outT, C].
 * KV-cache append at pos0: { inT: T, inStart: 0, outT: S, outStart: pos0, n: T }; last position:
 * { inT: T, inStart: T − 1, outT: 1, outStart: 0, n: 1 }.
 * Throws a RangeError when the block does not fit, since the GPU would drop out-of-bounds writes
 * silently and a KV cache would be corrupted without a trace.
 */
export function copyRows(rec: Recorder, out: Tensor, inp: Tensor, dims: CopyRowsDims): void {
  const { B, n, C, inT, inStart, outT, outStart } = dims;
  if (inStart + n > inT || outStart + n > outT) {
    throw new RangeError(`copy_rows: rows [${inStart}, ${inStart + n}) of ${inT} → rows [${outStart}, ${outStart + n}) of ${outT} do not fit`);
  }
  if (inp.size < B * inT * C || out.size < B * outT * C) {
    throw new RangeError(
      `copy_rows: inp has ${inp.size} elements and out ${out.size}; [B, inT, C] = [${B}, ${inT}, ${C}] and [B, outT, C] = [${B}, ${outT}, ${C}] need ${B * inT * C} and ${B * outT * C}`,
    );
  }
  rec.run(copyRowsKernel, dims, [out, inp]);
}
