import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { swigluForward } from '../../src/gpu/kernels/glu.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { swigluForwardRef } from '../ref/swiglu.js';

async function runSwiglu(g: Float32Array, u: Float32Array): Promise<Float32Array> {
  const ctx = await gpu();
  const n = g.length;
  const gate = createTensor(ctx, [n], 'f32', g);
  const up = createTensor(ctx, [n], 'f32', u);
  const out = createTensor(ctx, [n], 'f32');
  const rec = new Recorder(ctx);
  swigluForward(rec, out, gate, up, { n });
  rec.submit();
  const got = await readTensor(ctx, out);
  for (const t of [gate, up, out]) t.destroy();
  return got;
}

describe('swiglu_forward', () => {
  // One element, just under, at and just over one 256-wide workgroup, and a ragged last workgroup.
  for (const n of [1, 255, 256, 257, 1000]) {
    it(`matches the CPU reference at n=${n}`, async () => {
      const g = randomArray(n, 1 + n, -8, 8);
      const u = randomArray(n, 2 + n, -2, 2);
      expectClose(await runSwiglu(g, u), swigluForwardRef(g, u), 1e-5, 1e-5, 'out');
    });
  }

  it('stays finite for large gates (±100, and far beyond, where exp(−gate) overflows f32)', async () => {
    const edges = [0, -0, 20, -20, 88, -88, 89, -89, 100, -100, 1000, -1000, 1e30, -1e30];
    const g = new Float32Array([...edges, ...randomArray(300, 5, -100, 100)]);
    const u = randomArray(g.length, 6, -2, 2);
    const got = await runSwiglu(g, u);
    for (let i = 0; i < got.length; i++) {
      if (!Number.isFinite(got[i])) throw new Error(`swiglu(${g[i]}, ${u[i]}) = ${got[i]}`);
    }
    expectClose(got, swigluForwardRef(g, u), 1e-5, 1e-5, 'out');
  });
});
