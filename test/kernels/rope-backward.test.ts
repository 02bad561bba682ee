// rope_backward: the CPU reference against finite differences of the forward reference, then the
// GPU kernel (reading ropeTables) against the CPU reference.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { ropeBackward, ropeTables } from '../../src/gpu/kernels/rope.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dot, numericGradient } from '../ref/finite-difference.js';
import { ropeBackwardRef, ropeForwardRef } from '../ref/rope.js';

describe('ropeBackwardRef', () => {
  it('agrees with finite differences of ropeForwardRef', () => {
    const dims = { B: 2, T: 3, H: 2, HS: 8, pos0: 4 };
    const n = dims.B * dims.T * dims.H * dims.HS;
    const x = randomArray(n, 61, -2, 2);
    const G = randomArray(n, 62, -1, 1);
    const numeric = numericGradient((xs) => dot(ropeForwardRef(xs, dims, 10000), G), x);
    expectClose(ropeBackwardRef(G, dims, 10000), numeric, 1e-5, 1e-4, 'dinp vs finite differences');
  });
});

describe('rope_backward', () => {
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
      const dy = randomArray(n, 3 + n + c.pos0, -2, 2);
      const maxPositions = c.pos0 + c.T + 2;
      const tables = ropeTables(theta, c.HS, maxPositions);
      const shape = [c.B, c.T, c.H, c.HS];
      const dinp = createTensor(ctx, shape, 'f32', randomArray(n, 77, -5, 5)); // garbage, overwritten
      const dout = createTensor(ctx, shape, 'f32', dy);
      const cos = createTensor(ctx, [maxPositions, c.HS / 2], 'f32', tables.cos);
      const sin = createTensor(ctx, [maxPositions, c.HS / 2], 'f32', tables.sin);
      const rec = new Recorder(ctx);
      ropeBackward(rec, dinp, dout, cos, sin, dims);
      rec.submit();
      expectClose(await readTensor(ctx, dinp), ropeBackwardRef(dy, dims, theta), 1e-5, 1e-5, 'dinp');
      for (const t of [dinp, dout, cos, sin]) t.destroy();
    });
  }

  it('refuses tables too short for pos0 + T, and dinp aliasing dout', async () => {
    const ctx = await gpu();
    const dims = { B: 1, T: 2, H: 1, HS: 8, pos0: 3 };
    const tables = ropeTables(10000, 8, 4);
    const cos = createTensor(ctx, [4, 4], 'f32', tables.cos);
    const sin = createTensor(ctx, [4, 4], 'f32', tables.sin);
    const a = createTensor(ctx, [1, 2, 1, 8], 'f32');
    const b = createTensor(ctx, [1, 2, 1, 8], 'f32');
    const rec = new Recorder(ctx);
    expect(() => ropeBackward(rec, a, b, cos, sin, dims)).toThrow(/positions/);
    expect(() => ropeBackward(rec, a, a, cos, sin, { ...dims, pos0: 0 })).toThrow(/different buffers/);
    for (const t of [a, b, cos, sin]) t.destroy();
  });
});
