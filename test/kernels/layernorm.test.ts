import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { layernormForward } from '../../src/gpu/kernels/layernorm.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { layernormForwardRef } from '../ref/layernorm.js';

/** Run layernorm_forward on `x` ([rows, C]) with seeded weight and bias; compare with the CPU reference. */
async function check(rows: number, C: number, x: Float32Array, tol = { atol: 1e-5, rtol: 1e-5 }) {
  const ctx = await gpu();
  const w = randomArray(C, 7 + C, 0.5, 1.5);
  const b = randomArray(C, 11 + C, -0.5, 0.5);
  const out = createTensor(ctx, [rows, C], 'f32');
  const mean = createTensor(ctx, [rows], 'f32');
  const rstd = createTensor(ctx, [rows], 'f32');
  const inp = createTensor(ctx, [rows, C], 'f32', x);
  const weight = createTensor(ctx, [C], 'f32', w);
  const bias = createTensor(ctx, [C], 'f32', b);
  const rec = new Recorder(ctx);
  layernormForward(rec, out, mean, rstd, inp, weight, bias, { rows, C, eps: 1e-5 });
  rec.submit();
  const ref = layernormForwardRef(x, w, b, rows, C, 1e-5);
  expectClose(await readTensor(ctx, out), ref.out, tol.atol, tol.rtol, 'out');
  expectClose(await readTensor(ctx, mean), ref.mean, 1e-6, 1e-6, 'mean');
  expectClose(await readTensor(ctx, rstd), ref.rstd, 1e-6, 1e-5, 'rstd');
  for (const t of [out, mean, rstd, inp, weight, bias]) t.destroy();
}

describe('layernorm_forward', () => {
  // C = 1 (var = 0, so out = bias), C below and above the 64-wide workgroup and not a multiple of
  // it; a single row.
  for (const [rows, C] of [[1, 1], [3, 1], [3, 7], [5, 64], [2, 100], [1, 200], [4, 200]]) {
    it(`matches the CPU reference at rows=${rows} C=${C}`, async () => {
      await check(rows, C, randomArray(rows * C, 1 + rows * C, -3, 3));
    });
  }

  // A large common offset: a one-pass E[x²] − E[x]² would lose every digit of the variance here.
  for (const [rows, C] of [[3, 7], [2, 100], [4, 200]]) {
    it(`keeps precision with inputs 1000 + noise at rows=${rows} C=${C}`, async () => {
      const x = randomArray(rows * C, 3 + rows * C, -1, 1).map((v) => 1000 + v);
      await check(rows, C, x);
    });
  }

  it('keeps precision with inputs −5000 + small noise', async () => {
    const [rows, C] = [3, 100];
    const x = randomArray(rows * C, 5, -0.05, 0.05).map((v) => -5000 + v);
    await check(rows, C, x);
  });

  // More rows than one dispatch dimension holds (65535), so grid1d spreads them over y.
  it('covers every row when rows > 65535', async () => {
    const [rows, C] = [65537, 2];
    await check(rows, C, randomArray(rows * C, 9, -3, 3));
  });
});
