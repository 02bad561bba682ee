// layernorm_backward: the CPU reference against finite differences of the forward reference, then
// the GPU kernel against the CPU reference, overwriting and accumulating into dinp, including rows
// with a large common offset.
import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { layernormBackward } from '../../src/gpu/kernels/layernorm.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dot, numericGradient } from '../ref/finite-difference.js';
import { layernormBackwardRef, layernormForwardRef } from '../ref/layernorm.js';

const EPS = 1e-5;

describe('layernormBackwardRef', () => {
  // C = 1 (the output is the bias whatever x is, so the gradient is 0), a small row, a wide one,
  // and a row around 100 (the steps and the mean correction are then exercised off zero).
  const cases: Array<[number, number, number]> = [[1, 1, 0], [3, 7, 0], [2, 33, 0], [2, 9, 100]];
  for (const [rows, C, offset] of cases) {
    it(`agrees with finite differences of layernormForwardRef at rows=${rows} C=${C} offset=${offset}`, () => {
      const x = randomArray(rows * C, 31 + C, -2, 2).map((v) => v + offset);
      const w = randomArray(C, 32 + C, 0.5, 1.5);
      const b = randomArray(C, 33 + C, -0.5, 0.5);
      const G = randomArray(rows * C, 34 + C, -1, 1);
      const numeric = numericGradient((xs) => dot(layernormForwardRef(xs, w, b, rows, C, EPS).out, G), x);
      const { mean, rstd } = layernormForwardRef(x, w, b, rows, C, EPS);
      expectClose(layernormBackwardRef(G, x, w, mean, rstd, rows, C), numeric, 1e-4, 1e-4, 'dinp vs finite differences');
    });
  }
});

/**
 * Run layernorm_backward on `x` ([rows, C]) with seeded weight and dout, and the forward
 * reference's mean and rstd (the mean moved by `meanUlps` f32 ulps, to model a saved mean that is
 * a little off); dinp starts as `prior` (accumulate) or as garbage (overwrite). The expectation
 * uses the unmoved mean.
 */
async function check(rows: number, C: number, x: Float32Array, accumulate: boolean, meanUlps = 0) {
  const ctx = await gpu();
  const n = rows * C;
  const w = randomArray(C, 7 + C, 0.5, 1.5);
  const b = randomArray(C, 11 + C, -0.5, 0.5);
  const dy = randomArray(n, 13 + n, -1, 1);
  const prior = randomArray(n, 17 + n, -5, 5);
  const { mean, rstd } = layernormForwardRef(x, w, b, rows, C, EPS);
  const savedMean = mean.map((m) => {
    const ulp = 2 ** (Math.floor(Math.log2(Math.abs(m) || 1)) - 23);
    return m + meanUlps * ulp;
  });
  const dinp = createTensor(ctx, [rows, C], 'f32', prior);
  const tensors = [
    createTensor(ctx, [rows, C], 'f32', dy),
    createTensor(ctx, [rows, C], 'f32', x),
    createTensor(ctx, [C], 'f32', w),
    createTensor(ctx, [rows], 'f32', savedMean),
    createTensor(ctx, [rows], 'f32', rstd),
  ];
  const rec = new Recorder(ctx);
  layernormBackward(rec, dinp, tensors[0], tensors[1], tensors[2], tensors[3], tensors[4], { rows, C, accumulate });
  rec.submit();
  const ref = layernormBackwardRef(dy, x, w, mean, rstd, rows, C);
  const want = accumulate ? ref.map((v, i) => v + prior[i]) : ref;
  expectClose(await readTensor(ctx, dinp), want, 1e-5, 1e-5, 'dinp');
  for (const t of [dinp, ...tensors]) t.destroy();
}

describe('layernorm_backward', () => {
  // C = 1 (dinp = 0), C below and above the 64-wide workgroup and not a multiple of it, exactly
  // one workgroup wide; a single row.
  for (const [rows, C] of [[1, 1], [3, 1], [3, 7], [5, 64], [2, 100], [1, 200], [4, 200]]) {
    for (const accumulate of [false, true]) {
      it(`matches the CPU reference at rows=${rows} C=${C} accumulate=${accumulate}`, async () => {
        await check(rows, C, randomArray(rows * C, 1 + rows * C, -3, 3), accumulate);
      });
    }
  }

  // A large common offset: the saved mean is then off from the true one by up to half an ulp of
  // the offset, a sizable fraction of the spread (for −5000 ± 0.05, 2.4e-4 against 0.05).
  for (const [rows, C] of [[3, 7], [2, 100], [4, 200]]) {
    it(`keeps precision with inputs 1000 + noise at rows=${rows} C=${C}`, async () => {
      const x = randomArray(rows * C, 3 + rows * C, -1, 1).map((v) => 1000 + v);
      await check(rows, C, x, true);
    });
  }

  it('keeps precision with inputs −5000 + small noise', async () => {
    const [rows, C] = [3, 100];
    await check(rows, C, randomArray(rows * C, 5, -0.05, 0.05).map((v) => -5000 + v), false);
  });

  // The forward's saved mean need not be the correctly rounded one: a mean a few ulps off (here 3,
  // 1.5e-3 at −5000 against a spread of 0.05) must not move xhat.
  it('is insensitive to a saved mean a few ulps off, with inputs −5000 + small noise', async () => {
    const [rows, C] = [3, 100];
    await check(rows, C, randomArray(rows * C, 5, -0.05, 0.05).map((v) => -5000 + v), false, 3);
  });

  // More rows than one dispatch dimension holds (65535), so grid1d spreads them over y.
  it('covers every row when rows > 65535', async () => {
    await check(65537, 2, randomArray(65537 * 2, 9, -3, 3), true);
  });
});
