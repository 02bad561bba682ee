// gelu_backward: the CPU reference against finite differences of the forward reference, then the
// GPU kernel against the CPU reference, overwriting and accumulating, and at extreme inputs.
import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { geluBackward } from '../../src/gpu/kernels/gelu.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dot, numericGradient } from '../ref/finite-difference.js';
import { geluBackwardRef, geluForwardRef } from '../ref/gelu.js';

describe('geluBackwardRef', () => {
  it('agrees with finite differences of geluForwardRef', () => {
    const x = new Float32Array([0, 0.5, -0.5, -0.75, ...randomArray(60, 51, -6, 6)]);
    const G = randomArray(x.length, 52, -1, 1);
    const numeric = numericGradient((xs) => dot(geluForwardRef(xs), G), x);
    expectClose(geluBackwardRef(G, x), numeric, 1e-5, 1e-4, 'dinp vs finite differences');
  });
});

/** Run gelu_backward; dinp starts as `prior`, to be added to (accumulate) or overwritten. */
async function runGeluBackward(dy: Float32Array, x: Float32Array, prior: Float32Array, accumulate: boolean) {
  const ctx = await gpu();
  const n = x.length;
  const dinp = createTensor(ctx, [n], 'f32', prior);
  const dout = createTensor(ctx, [n], 'f32', dy);
  const inp = createTensor(ctx, [n], 'f32', x);
  const rec = new Recorder(ctx);
  geluBackward(rec, dinp, dout, inp, { n, accumulate });
  rec.submit();
  const got = await readTensor(ctx, dinp);
  for (const t of [dinp, dout, inp]) t.destroy();
  return got;
}

describe('gelu_backward', () => {
  // One element, just under, at and just over one 256-wide workgroup, and a ragged last workgroup.
  for (const n of [1, 255, 256, 257, 1000]) {
    for (const accumulate of [false, true]) {
      it(`matches the CPU reference at n=${n} accumulate=${accumulate}`, async () => {
        const x = randomArray(n, 1 + n, -6, 6);
        const dy = randomArray(n, 2 + n, -1, 1);
        const prior = randomArray(n, 3 + n, -5, 5);
        const ref = geluBackwardRef(dy, x);
        const want = accumulate ? ref.map((v, i) => v + prior[i]) : ref;
        expectClose(await runGeluBackward(dy, x, prior, accumulate), want, 1e-5, 1e-5, 'dinp');
      });
    }
  }

  it('stays finite and exact in the saturated range (|x| up to 1e6, and far beyond)', async () => {
    const edges = [0, -0, 3, -3, 10, -10, 15, -15, 30, -30, 50, -50, 100, -100, 1e4, -1e4, 1e6, -1e6, 3e38, -3e38];
    const x = new Float32Array([...edges, ...randomArray(300, 17, -50, 50), ...randomArray(100, 18, -1e6, 1e6)]);
    const dy = randomArray(x.length, 19, -1, 1);
    const prior = randomArray(x.length, 20, -5, 5);
    const got = await runGeluBackward(dy, x, prior, true);
    for (let i = 0; i < got.length; i++) {
      if (!Number.isFinite(got[i])) throw new Error(`gelu_backward at ${x[i]}: ${got[i]}`);
    }
    const want = geluBackwardRef(dy, x).map((v, i) => v + prior[i]);
    expectClose(got, want, 1e-5, 1e-5, 'dinp');
  });
});
