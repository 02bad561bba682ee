// gather_rows: out[j] = inp[rows[j]] and, with SCATTER, out[rows[j]] = inp[j] (src/gpu/kernels/
// gather-rows.ts), against the CPU, with rows out of order, a width that is not a multiple of 4
// and rows of the indexed tensor left untouched by a scatter; then the launchers' checks.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { gatherRows, scatterRows } from '../../src/gpu/kernels/gather-rows.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { gpu, randomArray } from '../helpers.js';

describe('gather_rows', () => {
  const [rowsIn, C] = [9, 5];
  const rows = Uint32Array.from([7, 0, 3, 8]);
  const n = rows.length;

  it('gathers rows in the order given, and scatters them back leaving the others as they were', async () => {
    const ctx = await gpu();
    const data = randomArray(rowsIn * C, 1);
    const inp = createTensor(ctx, [rowsIn, C], 'f32', data);
    const idx = createTensor(ctx, [n], 'u32', rows);
    const packed = createTensor(ctx, [n + 1, C], 'f32', new Float32Array((n + 1) * C).fill(-7));
    const back = createTensor(ctx, [rowsIn, C], 'f32', new Float32Array(rowsIn * C).fill(3));
    const rec = new Recorder(ctx);
    gatherRows(rec, packed, inp, idx, { n, C, indexedRows: rowsIn }, rows);
    scatterRows(rec, back, packed, idx, { n, C, indexedRows: rowsIn }, rows);
    rec.submit();
    const got = await readTensor(ctx, packed);
    for (let j = 0; j < n; j++) expect(Array.from(got.subarray(j * C, (j + 1) * C))).toEqual(Array.from(data.subarray(rows[j] * C, (rows[j] + 1) * C)));
    expect(Array.from(got.subarray(n * C)).every((v) => v === -7), 'the row past n untouched').toBe(true);
    const scattered = await readTensor(ctx, back);
    for (let r = 0; r < rowsIn; r++) {
      const want = rows.includes(r) ? Array.from(data.subarray(r * C, (r + 1) * C)) : new Array(C).fill(3);
      expect(Array.from(scattered.subarray(r * C, (r + 1) * C)), `row ${r}`).toEqual(want);
    }
  });

  it('refuses rows out of range, a scatter to one row twice, short tensors and rows that are not u32', async () => {
    const ctx = await gpu();
    const rec = new Recorder(ctx);
    const t = (k: number) => createTensor(ctx, [k], 'f32');
    const idx = createTensor(ctx, [n], 'u32', rows);
    const dims = { n, C, indexedRows: rowsIn };
    expect(() => gatherRows(rec, t(n * C), t(rowsIn * C), idx, { ...dims, indexedRows: 8 }, [7, 0, 3, 8])).toThrow(/gather_rows: rows\[3\] = 8 is not a row below 8/);
    expect(() => scatterRows(rec, t(rowsIn * C), t(n * C), idx, dims, [7, 0, 7, 8])).toThrow(/scatter_rows: row 7 appears twice in rows \(at 2\)/);
    expect(() => gatherRows(rec, t(n * C - 1), t(rowsIn * C), idx, dims, rows)).toThrow(/gather_rows: out has 19 elements, needs 20 \(n=4 C=5 indexed rows=9\)/);
    expect(() => scatterRows(rec, t(rowsIn * C - 1), t(n * C), idx, dims, rows)).toThrow(/scatter_rows: out has 44 elements, needs 45/);
    expect(() => gatherRows(rec, t(n * C), t(rowsIn * C), createTensor(ctx, [n], 'i32'), dims, rows)).toThrow(/gather_rows: rows must be u32, got i32/);
    rec.submit();
  });
});
