// rmsnorm_backward: the CPU reference against finite differences of the forward reference, then
// the GPU kernel against the CPU reference, overwriting and accumulating into dinp.
import { describe, it } from 'vitest';
import { Recorder, type KernelSpec } from '../../src/gpu/kernel.js';
import {
  rmsnormBackwardKernel,
  rmsnormBackwardPerRowKernel,
  type RmsnormBackwardDims,
} from '../../src/gpu/kernels/rmsnorm.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dot, numericGradient } from '../ref/finite-difference.js';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../ref/rmsnorm.js';

const EPS = 1e-5;
const KERNELS = [rmsnormBackwardKernel, rmsnormBackwardPerRowKernel];

describe('rmsnormBackwardRef', () => {
  // C = 1 (the output is ±weight, a flat function, whose gradient is nearly 0), a small row, a wide one.
  // With weight, and with Gemma's 1 + weight.
  for (const onePlusWeight of [false, true])
  for (const [rows, C] of [[1, 1], [3, 7], [2, 33]]) {
    it(`agrees with finite differences of rmsnormForwardRef at rows=${rows} C=${C}${onePlusWeight ? ' (1 + weight)' : ''}`, () => {
      const x = randomArray(rows * C, 21 + C, -2, 2);
      const w = onePlusWeight ? randomArray(C, 22 + C, -0.5, 0.5) : randomArray(C, 22 + C, 0.5, 1.5);
      const G = randomArray(rows * C, 23 + C, -1, 1);
      const numeric = numericGradient((xs) => dot(rmsnormForwardRef(xs, w, rows, C, EPS, onePlusWeight).out, G), x);
      const { rstd } = rmsnormForwardRef(x, w, rows, C, EPS, onePlusWeight);
      expectClose(rmsnormBackwardRef(G, x, w, rstd, rows, C, onePlusWeight), numeric, 1e-4, 1e-4, 'dinp vs finite differences');
    });
  }
});

/** Run rmsnorm_backward on seeded data; dinp starts as `prior` (accumulate) or as garbage (overwrite). */
async function check(kernel: KernelSpec<RmsnormBackwardDims>, rows: number, C: number, accumulate: boolean, onePlusWeight = false) {
  const ctx = await gpu();
  const n = rows * C;
  const x = randomArray(n, 1 + n, -3, 3);
  const w = onePlusWeight ? randomArray(C, 7 + C, -0.5, 0.5) : randomArray(C, 7 + C, 0.5, 1.5);
  const dy = randomArray(n, 13 + n, -1, 1);
  const prior = randomArray(n, 17 + n, -5, 5);
  const { rstd } = rmsnormForwardRef(x, w, rows, C, EPS, onePlusWeight);
  const dinp = createTensor(ctx, [rows, C], 'f32', prior);
  const tensors = [
    createTensor(ctx, [rows, C], 'f32', dy),
    createTensor(ctx, [rows, C], 'f32', x),
    createTensor(ctx, [C], 'f32', w),
    createTensor(ctx, [rows], 'f32', rstd),
  ];
  const rec = new Recorder(ctx);
  rec.run(kernel, { rows, C, accumulate, onePlusWeight }, [dinp, ...tensors]);
  rec.submit();
  const ref = rmsnormBackwardRef(dy, x, w, rstd, rows, C, onePlusWeight);
  const want = accumulate ? ref.map((v, i) => v + prior[i]) : ref;
  expectClose(await readTensor(ctx, dinp), want, 1e-5, 1e-5, 'dinp');
  for (const t of [dinp, ...tensors]) t.destroy();
}

describe('rmsnorm_backward', () => {
  // C = 1, C below and above the 64-wide workgroup and not a multiple of it, exactly one
  // workgroup wide; a single row; HS-sized rows of a per-head norm.
  // Both variants: the workgroup-per-row kernel and the barrier-free per_row one.
  for (const kernel of KERNELS)
  for (const [rows, C] of [[1, 1], [3, 1], [3, 7], [5, 64], [2, 100], [1, 200], [6, 16]]) {
    for (const accumulate of [false, true]) {
      it(`${kernel.entryPoint ?? 'main'} matches the CPU reference at rows=${rows} C=${C} accumulate=${accumulate}`, async () => {
        await check(kernel, rows, C, accumulate);
      });
    }
  }

  // Gemma's 1 + weight, at odd widths and at its head size (256, a per-head q/k norm).
  for (const kernel of KERNELS)
  for (const [rows, C] of [[1, 1], [3, 7], [2, 100], [5, 256]]) {
    it(`${kernel.entryPoint ?? 'main'} (1 + weight) matches the CPU reference at rows=${rows} C=${C}`, async () => {
      await check(kernel, rows, C, true, true);
      await check(kernel, rows, C, false, true);
    });
  }

  // More rows than one dispatch dimension holds (65535), as a per-head q/k norm can have.
  for (const kernel of KERNELS) {
    it(`${kernel.entryPoint ?? 'main'} covers every row when rows > 65535`, async () => {
      await check(kernel, 70001, 2, true);
    });
  }
});
