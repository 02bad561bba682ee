// swiglu_backward: the CPU reference against finite differences of the forward reference, then
// the GPU kernel against the CPU reference, at ragged sizes and at extreme gates.
import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { swigluBackward } from '../../src/gpu/kernels/glu.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dot, numericGradient } from '../ref/finite-difference.js';
import { swigluBackwardRef, swigluForwardRef } from '../ref/swiglu.js';

describe('swigluBackwardRef', () => {
  it('agrees with finite differences of swigluForwardRef in gate and in up', () => {
    const n = 64;
    const g = randomArray(n, 41, -8, 8);
    const u = randomArray(n, 42, -2, 2);
    const G = randomArray(n, 43, -1, 1);
    const ref = swigluBackwardRef(G, g, u);
    const dgate = numericGradient((gs) => dot(swigluForwardRef(gs, u), G), g);
    const dup = numericGradient((us) => dot(swigluForwardRef(g, us), G), u);
    expectClose(ref.dgate, dgate, 1e-5, 1e-4, 'dgate vs finite differences');
    expectClose(ref.dup, dup, 1e-5, 1e-4, 'dup vs finite differences');
  });
});

/** Run swiglu_backward; both outputs start as garbage, which must be overwritten. */
async function runSwigluBackward(dy: Float32Array, g: Float32Array, u: Float32Array) {
  const ctx = await gpu();
  const n = g.length;
  const garbage = randomArray(n, 99, -5, 5);
  const dgate = createTensor(ctx, [n], 'f32', garbage);
  const dup = createTensor(ctx, [n], 'f32', garbage);
  const inputs = [dy, g, u].map((a) => createTensor(ctx, [n], 'f32', a));
  const rec = new Recorder(ctx);
  swigluBackward(rec, dgate, dup, inputs[0], inputs[1], inputs[2], { n });
  rec.submit();
  const got = { dgate: await readTensor(ctx, dgate), dup: await readTensor(ctx, dup) };
  for (const t of [dgate, dup, ...inputs]) t.destroy();
  return got;
}

describe('swiglu_backward', () => {
  // One element, just under, at and just over one 256-wide workgroup, and a ragged last workgroup.
  for (const n of [1, 255, 256, 257, 1000]) {
    it(`matches the CPU reference at n=${n}`, async () => {
      const g = randomArray(n, 1 + n, -8, 8);
      const u = randomArray(n, 2 + n, -2, 2);
      const dy = randomArray(n, 3 + n, -1, 1);
      const got = await runSwigluBackward(dy, g, u);
      const ref = swigluBackwardRef(dy, g, u);
      expectClose(got.dgate, ref.dgate, 1e-5, 1e-5, 'dgate');
      expectClose(got.dup, ref.dup, 1e-5, 1e-5, 'dup');
    });
  }

  it('stays finite for extreme gates (|gate| up to 1e4, and far beyond, where exp(−gate) overflows f32)', async () => {
    const edges = [0, -0, 1, -1, -1.2785, 20, -20, 88, -88, 89, -89, 100, -100, 1000, -1000, 1e4, -1e4, 1e30, -1e30];
    const g = new Float32Array([...edges, ...randomArray(300, 5, -100, 100), ...randomArray(100, 6, -1e4, 1e4)]);
    const u = randomArray(g.length, 7, -2, 2);
    const dy = randomArray(g.length, 8, -1, 1);
    const got = await runSwigluBackward(dy, g, u);
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(got.dgate[i]) || !Number.isFinite(got.dup[i])) {
        throw new Error(`swiglu_backward at gate ${g[i]}: dgate ${got.dgate[i]}, dup ${got.dup[i]}`);
      }
    }
    const ref = swigluBackwardRef(dy, g, u);
    expectClose(got.dgate, ref.dgate, 1e-5, 1e-5, 'dgate');
    expectClose(got.dup, ref.dup, 1e-5, 1e-5, 'dup');
  });
});
