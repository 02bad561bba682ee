import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { copyRows, type CopyRowsDims } from '../../src/gpu/kernels/copy-rows.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { copyRowsRef } from '../ref/copy-rows.js';

const cases: Array<[string, CopyRowsDims]> = [
  ['a single element', { B: 1, n: 1, C: 1, inT: 1, inStart: 0, outT: 1, outStart: 0 }],
  ['a KV block at the start of the cache', { B: 2, n: 3, C: 5, inT: 3, inStart: 0, outT: 8, outStart: 0 }],
  ['a KV block in the middle of the cache', { B: 2, n: 3, C: 5, inT: 3, inStart: 0, outT: 8, outStart: 4 }],
  ['a KV block that ends the cache', { B: 3, n: 4, C: 7, inT: 4, inStart: 0, outT: 9, outStart: 5 }],
  ['one decoded token into the cache', { B: 2, n: 1, C: 6, inT: 1, inStart: 0, outT: 10, outStart: 7 }],
  ['the last position of each sequence', { B: 3, n: 1, C: 10, inT: 7, inStart: 6, outT: 1, outStart: 0 }],
  ['rows wider than a workgroup, ragged', { B: 2, n: 3, C: 300, inT: 5, inStart: 1, outT: 6, outStart: 2 }],
];

describe('copy_rows', () => {
  for (const [what, d] of cases) {
    it(`copies ${what} (B=${d.B} n=${d.n} C=${d.C} ${d.inT}[${d.inStart}:] → ${d.outT}[${d.outStart}:]) and touches nothing else`, async () => {
      const ctx = await gpu();
      const x = randomArray(d.B * d.inT * d.C, 1 + d.C, -1, 1);
      const before = randomArray(d.B * d.outT * d.C, 2 + d.C, 10, 20); // distinct from inp's values
      const inp = createTensor(ctx, [d.B, d.inT, d.C], 'f32', x);
      const out = createTensor(ctx, [d.B, d.outT, d.C], 'f32', before);
      const rec = new Recorder(ctx);
      copyRows(rec, out, inp, d);
      rec.submit();
      expectClose(await readTensor(ctx, out), copyRowsRef(before, x, d), 0, 0, 'out');
      inp.destroy();
      out.destroy();
    });
  }

  it('refuses a block that does not fit', async () => {
    const ctx = await gpu();
    const inp = createTensor(ctx, [1, 3, 2], 'f32');
    const out = createTensor(ctx, [1, 4, 2], 'f32');
    const rec = new Recorder(ctx);
    const ok: CopyRowsDims = { B: 1, n: 3, C: 2, inT: 3, inStart: 0, outT: 4, outStart: 1 };
    expect(() => copyRows(rec, out, inp, { ...ok, outStart: 2 })).toThrow(RangeError);
    expect(() => copyRows(rec, out, inp, { ...ok, n: 1, inStart: 3 })).toThrow(RangeError);
    expect(() => copyRows(rec, out, inp, { ...ok, B: 2 })).toThrow(RangeError);
    expect(() => copyRows(rec, out, inp, ok)).not.toThrow();
    rec.submit();
    inp.destroy();
    out.destroy();
  });
});
