// geglu_forward / geglu_backward (Gemma's gelu_pytorch_tanh(gate)·up): the backward CPU reference
// against finite differences of the forward one, then both kernels against the references at
// ragged sizes and at extreme gates.
import { describe, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { gegluBackward, gegluForward } from '../../src/gpu/kernels/glu.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dot, numericGradient } from '../ref/finite-difference.js';
import { gegluBackwardRef, gegluForwardRef } from '../ref/geglu.js';

describe('gegluBackwardRef', () => {
  it('agrees with finite differences of gegluForwardRef in gate and in up', () => {
    const n = 64;
    const g = randomArray(n, 51, -6, 6);
    const u = randomArray(n, 52, -2, 2);
    const G = randomArray(n, 53, -1, 1);
    const ref = gegluBackwardRef(G, g, u);
    expectClose(ref.dgate, numericGradient((gs) => dot(gegluForwardRef(gs, u), G), g), 1e-5, 1e-4, 'dgate vs finite differences');
    expectClose(ref.dup, numericGradient((us) => dot(gegluForwardRef(g, us), G), u), 1e-5, 1e-4, 'dup vs finite differences');
  });
});

/** Both kernels on the same data; the backward's outputs start as garbage, which must be overwritten. */
async function runGeglu(dy: Float32Array, g: Float32Array, u: Float32Array) {
  const ctx = await gpu();
  const n = g.length;
  const garbage = randomArray(n, 99, -5, 5);
  const [out, dgate, dup] = [0, 1, 2].map(() => createTensor(ctx, [n], 'f32', garbage));
  const [tdy, tg, tu] = [dy, g, u].map((a) => createTensor(ctx, [n], 'f32', a));
  const rec = new Recorder(ctx);
  gegluForward(rec, out, tg, tu, { n });
  gegluBackward(rec, dgate, dup, tdy, tg, tu, { n });
  rec.submit();
  const got = { out: await readTensor(ctx, out), dgate: await readTensor(ctx, dgate), dup: await readTensor(ctx, dup) };
  for (const t of [out, dgate, dup, tdy, tg, tu]) t.destroy();
  return got;
}

describe('geglu_forward / geglu_backward', () => {
  // One element, just under, at and just over one 256-wide workgroup, and a ragged last workgroup.
  for (const n of [1, 255, 256, 257, 1000]) {
    it(`match the CPU references at n=${n}`, async () => {
      const g = randomArray(n, 1 + n, -8, 8);
      const u = randomArray(n, 2 + n, -2, 2);
      const dy = randomArray(n, 3 + n, -1, 1);
      const got = await runGeglu(dy, g, u);
      const ref = gegluBackwardRef(dy, g, u);
      expectClose(got.out, gegluForwardRef(g, u), 1e-5, 1e-5, 'out');
      expectClose(got.dgate, ref.dgate, 1e-5, 1e-5, 'dgate');
      expectClose(got.dup, ref.dup, 1e-5, 1e-5, 'dup');
    });
  }

  it('stay finite for extreme gates (|gate| up to 1e30, where the cubic and exp overflow f32)', async () => {
    const edges = [0, -0, 1, -1, 5, -5, 10, -10, 44, -44, 100, -100, 1e4, -1e4, 1e5, -1e5, 1e30, -1e30];
    const g = new Float32Array([...edges, ...randomArray(300, 5, -100, 100)]);
    const u = randomArray(g.length, 7, -2, 2);
    const dy = randomArray(g.length, 8, -1, 1);
    const got = await runGeglu(dy, g, u);
    for (let i = 0; i < g.length; i++) {
      if (![got.out[i], got.dgate[i], got.dup[i]].every(Number.isFinite)) {
        throw new Error(`geglu at gate ${g[i]}: out ${got.out[i]}, dgate ${got.dgate[i]}, dup ${got.dup[i]}`);
      }
    }
    const ref = gegluBackwardRef(dy, g, u);
    expectClose(got.out, gegluForwardRef(g, u), 1e-5, 1e-5, 'out');
    expectClose(got.dgate, ref.dgate, 1e-5, 1e-5, 'dgate');
    expectClose(got.dup, ref.dup, 1e-5, 1e-5, 'dup');
  });
});
