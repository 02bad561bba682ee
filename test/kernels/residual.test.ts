import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { residualForward } from '../../src/gpu/kernels/residual.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { residualForwardRef } from '../ref/residual.js';

describe('residual_forward', () => {
  // One element, just under, at and just over one 256-wide workgroup, and a ragged last workgroup.
  for (const n of [1, 255, 256, 257, 1000]) {
    it(`matches the CPU reference exactly at n=${n}`, async () => {
      const ctx = await gpu();
      const x = randomArray(n, 1 + n, -100, 100);
      const y = randomArray(n, 2 + n, -1, 1);
      const a = createTensor(ctx, [n], 'f32', x);
      const b = createTensor(ctx, [n], 'f32', y);
      const out = createTensor(ctx, [n], 'f32');
      const rec = new Recorder(ctx);
      residualForward(rec, out, a, b, { n });
      rec.submit();
      // An f32 add is correctly rounded in WGSL, so the result is bit-exact.
      expectClose(await readTensor(ctx, out), residualForwardRef(x, y), 0, 0, 'out');
      for (const t of [a, b, out]) t.destroy();
    });
  }
});
