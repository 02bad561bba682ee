import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { rmsnormForwardKernel, rmsnormForwardPerRowKernel } from '../../src/gpu/kernels/rmsnorm.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { rmsnormForwardRef } from '../ref/rmsnorm.js';

describe('rmsnorm_forward', () => {
  // C = 1, C below and above the 64-wide workgroup, and not a multiple of it; a single row;
  // more rows than one grid dimension holds (65535 workgroups), as a per-head q/k norm can have.
  // Both variants: the workgroup-per-row kernel and the barrier-free per_row one; each scaling by
  // weight, and by 1 + weight (Gemma; its weights are offsets near 0, HS = 256 rows among them).
  for (const kernel of [rmsnormForwardKernel, rmsnormForwardPerRowKernel])
  for (const onePlusWeight of [false, true])
  for (const [rows, C] of [[1, 1], [3, 7], [5, 64], [2, 100], [1, 200], [70001, 2], ...(onePlusWeight ? [[7, 256]] : [])]) {
    it(`${kernel.entryPoint ?? 'main'}${onePlusWeight ? ' (1 + weight)' : ''} matches the CPU reference at rows=${rows} C=${C}`, async () => {
      const ctx = await gpu();
      const x = randomArray(rows * C, 1 + rows * C, -3, 3);
      const w = onePlusWeight ? randomArray(C, 7 + C, -0.5, 0.5) : randomArray(C, 7 + C, 0.5, 1.5);
      const out = createTensor(ctx, [rows, C], 'f32');
      const rstd = createTensor(ctx, [rows], 'f32');
      const rec = new Recorder(ctx);
      const dims = { rows, C, eps: 1e-5, onePlusWeight };
      rec.run(kernel, dims, [out, rstd, createTensor(ctx, [rows, C], 'f32', x), createTensor(ctx, [C], 'f32', w)]);
      rec.submit();
      const ref = rmsnormForwardRef(x, w, rows, C, 1e-5, onePlusWeight);
      expectClose(await readTensor(ctx, out), ref.out, 1e-5, 1e-5, 'out');
      expectClose(await readTensor(ctx, rstd), ref.rstd, 1e-6, 1e-5, 'rstd');
    });
  }
});
