import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { ropeBackward, ropeForward, ropeTables } from '../../src/gpu/kernels/rope.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { ropeBackwardRef, ropeForwardRef } from '../ref/rope.js';

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

describe('rope_forward / rope_backward with several tables in one buffer (tableRow)', () => {
  // Gemma 3's sliding and full layers have RoPEs of their own, kept one after the other: a
  // layer's rows start at tableRow = k·P. Each direction reads the table it is pointed at.
  for (const [k, theta] of [[0, 10000], [1, 1e6], [2, 500]] as const) {
    it(`reads table ${k} of three (theta ${theta}) at B=2 T=3 H=2 HS=6 pos0=4`, async () => {
      const ctx = await gpu();
      const [P, HS] = [9, 6];
      const dims = { B: 2, T: 3, H: 2, HS, pos0: 4 };
      const parts = [10000, 1e6, 500].map((t) => ropeTables(t, HS, P));
      const join = (key: 'cos' | 'sin') => Float32Array.from(parts.flatMap((t) => Array.from(t[key])));
      const cos = createTensor(ctx, [3 * P, HS / 2], 'f32', join('cos'));
      const sin = createTensor(ctx, [3 * P, HS / 2], 'f32', join('sin'));
      const n = dims.B * dims.T * dims.H * HS;
      const x = randomArray(n, 77 + k, -2, 2);
      const shape = [dims.B, dims.T, dims.H, HS];
      const [out, dinp] = [createTensor(ctx, shape, 'f32'), createTensor(ctx, shape, 'f32')];
      const rec = new Recorder(ctx);
      ropeForward(rec, out, createTensor(ctx, shape, 'f32', x), cos, sin, { ...dims, tableRow: k * P });
      ropeBackward(rec, dinp, createTensor(ctx, shape, 'f32', x), cos, sin, { ...dims, tableRow: k * P });
      rec.submit();
      expectClose(await readTensor(ctx, out), ropeForwardRef(x, dims, theta), 1e-5, 1e-5, 'out');
      expectClose(await readTensor(ctx, dinp), ropeBackwardRef(x, dims, theta), 1e-5, 1e-5, 'dinp');
    });
  }

  it('refuses a table row whose positions run past the tables', async () => {
    const ctx = await gpu();
    const t = ropeTables(10000, 4, 5);
    const cos = createTensor(ctx, [5, 2], 'f32', t.cos);
    const sin = createTensor(ctx, [5, 2], 'f32', t.sin);
    const x = createTensor(ctx, [1, 2, 1, 4], 'f32');
    const out = createTensor(ctx, [1, 2, 1, 4], 'f32');
    expect(() => ropeForward(new Recorder(ctx), out, x, cos, sin, { B: 1, T: 2, H: 1, HS: 4, pos0: 0, tableRow: 4 })).toThrow(/positions up to 2 from row 4 needed/);
  });
});
