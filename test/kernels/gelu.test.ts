import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { geluForward } from '../../src/gpu/kernels/gelu.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { geluForwardRef } from '../ref/gelu.js';

async function runGelu(x: Float32Array): Promise<Float32Array> {
  const ctx = await gpu();
  const inp = createTensor(ctx, [x.length], 'f32', x);
  const out = createTensor(ctx, [x.length], 'f32');
  const rec = new Recorder(ctx);
  geluForward(rec, out, inp, { n: x.length });
  rec.submit();
  const got = await readTensor(ctx, out);
  inp.destroy();
  out.destroy();
  return got;
}

describe('gelu_forward', () => {
  // One element, just under, at and just over one 256-wide workgroup, and a ragged last workgroup.
  for (const n of [1, 255, 256, 257, 1000]) {
    it(`matches the CPU reference at n=${n}`, async () => {
      const x = randomArray(n, 1 + n, -6, 6);
      expectClose(await runGelu(x), geluForwardRef(x), 1e-5, 1e-5, 'out');
    });
  }

  it('stays finite and exact in the saturated range (|x| up to 50, and far beyond)', async () => {
    const edges = [0, -0, 10, -10, 15, -15, 30, -30, 50, -50, 100, -100, 1e4, -1e4, 1e6, -1e6, 3e38, -3e38];
    const x = new Float32Array([...edges, ...randomArray(300, 17, -50, 50)]);
    const got = await runGelu(x);
    for (let i = 0; i < got.length; i++) {
      if (!Number.isFinite(got[i])) throw new Error(`gelu(${x[i]}) = ${got[i]}`);
    }
    expectClose(got, geluForwardRef(x), 1e-5, 1e-5, 'out');
  });
});
