import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { ropeForward, ropeTables } from '../../src/gpu/kernels/rope.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { ropeForwardRef } from '../ref/rope.js';

describe('ropeTables', () => {
  it('holds cos/sin of p · theta^(-2i/HS) for every position, [maxPositions, HS/2]', () => {
    const HS = 16;
    const P = 40;
    const { cos, sin } = ropeTables(10000, HS, P);
    expect(cos.length).toBe(P * (HS / 2));
    expect(sin.length).toBe(P * (HS / 2));
    const want = (f: (a: number) => number) =>
      Array.from({ length: P * (HS / 2) }, (_, k) => f(Math.floor(k / (HS / 2)) * 10000 ** ((-2 * (k % (HS / 2))) / HS)));
    // f32 invFreq and f32 angles (as Hugging Face computes them) differ from f64 angles by a few ulps of p·invFreq.
    expectClose(cos, want(Math.cos), 2e-6, 0, 'cos');
    expectClose(sin, want(Math.sin), 2e-6, 0, 'sin');
    expect(cos[0]).toBe(1);
    expect(sin[0]).toBe(0);
  });
});

describe('rope_forward', () => {
  // T = 1 past position 0 (decode), odd T, HS 8 and 16, theta 1e4 and 1e6, H = 1 and 3, B = 2.
  const cases = [
    { B: 1, T: 1, H: 1, HS: 8, pos0: 5, theta: 10000 },
    { B: 2, T: 3, H: 3, HS: 8, pos0: 0, theta: 10000 },
    { B: 1, T: 5, H: 3, HS: 16, pos0: 2, theta: 1e6 },
    { B: 2, T: 7, H: 1, HS: 16, pos0: 0, theta: 10000 },
    { B: 2, T: 1, H: 3, HS: 16, pos0: 11, theta: 1e6 },
  ];
  for (const c of cases) {
    const { theta, ...dims } = c;
    it(`matches the CPU reference at B=${c.B} T=${c.T} H=${c.H} HS=${c.HS} pos0=${c.pos0} theta=${theta}`, async () => {
      const ctx = await gpu();
      const n = c.B * c.T * c.H * c.HS;
      const x = randomArray(n, 3 + n + c.pos0, -2, 2);
      const maxPositions = c.pos0 + c.T + 2;
      const tables = ropeTables(theta, c.HS, maxPositions);
      const shape = [c.B, c.T, c.H, c.HS];
      const out = createTensor(ctx, shape, 'f32');
      const cos = createTensor(ctx, [maxPositions, c.HS / 2], 'f32', tables.cos);
      const sin = createTensor(ctx, [maxPositions, c.HS / 2], 'f32', tables.sin);
      const rec = new Recorder(ctx);
      ropeForward(rec, out, createTensor(ctx, shape, 'f32', x), cos, sin, dims);
      rec.submit();
      expectClose(await readTensor(ctx, out), ropeForwardRef(x, dims, theta), 1e-5, 1e-5, 'out');
    });
  }
});
