// attention_backward (training: pos0 = 0, S = T) against the f64 CPU reference, which is itself
// checked once against central finite differences of the CPU forward reference.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { attentionBackward, attentionForward, type AttentionBackwardDims } from '../../src/gpu/kernels/attention.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { attentionBackwardRef, attentionForwardRef } from '../ref/attention.js';
import { backwardTensors, expectBackwardMatches, flatMask, poisonUnreadKeys, randomQkv, type BackwardCase } from './attention-checks.js';

interface Case extends BackwardCase {
  /**
   * dout at padding query rows (mask[b, t] = 0): 'zero' as the trainer gives (the loss ignores
   * them), or 'random' to show that rows with no allowed key still give dq = 0 and no NaN.
   */
  padDout?: 'zero' | 'random';
}

const cases: Case[] = [
  { name: 'T=1', dims: { B: 1, T: 1, NH: 1, KV: 1, HS: 8 } },
  { name: 'T=5, NH=KV=2, HS=8', dims: { B: 1, T: 5, NH: 2, KV: 2, HS: 8 } },
  { name: 'GQA ratio 2 (NH=4, KV=2), HS=16', dims: { B: 1, T: 6, NH: 4, KV: 2, HS: 16 } },
  { name: 'GQA ratio 4 (NH=8, KV=2), HS=16', dims: { B: 1, T: 5, NH: 8, KV: 2, HS: 16 } },
  { name: 'odd T=7, B=2, 112 query rows over two workgroups', dims: { B: 2, T: 7, NH: 8, KV: 2, HS: 16 } },
  { name: 'odd head size HS=5', dims: { B: 1, T: 3, NH: 2, KV: 1, HS: 5 } },
  { name: 'head size HS=192', dims: { B: 1, T: 3, NH: 2, KV: 1, HS: 192 } },
  { name: 'head size HS=255', dims: { B: 1, T: 3, NH: 2, KV: 1, HS: 255 } },
  { name: 'largest head size HS=256', dims: { B: 1, T: 2, NH: 2, KV: 1, HS: 256 } },
  { name: 'large scores (|score| ~ 10s)', dims: { B: 1, T: 5, NH: 2, KV: 1, HS: 16 }, qScale: 8 },
  { name: 'right-padded row', dims: { B: 1, T: 7, NH: 4, KV: 2, HS: 8 }, mask: [[1, 1, 1, 1, 0, 0, 0]] },
  {
    name: 'left-padded row, random dout at the fully-masked queries',
    dims: { B: 1, T: 7, NH: 4, KV: 2, HS: 8 },
    mask: [[0, 0, 0, 1, 1, 1, 1]],
    padDout: 'random',
  },
  {
    name: 'B=2: a right-padded row and a left-padded row',
    dims: { B: 2, T: 7, NH: 4, KV: 2, HS: 8 },
    mask: [
      [1, 1, 1, 1, 1, 0, 0],
      [0, 0, 1, 1, 1, 1, 1],
    ],
  },
];

/** Σ out ⊙ G for the forward reference's out: the loss whose gradients the backward reference gives. */
function dotWithForward(G: Float32Array, ...args: Parameters<typeof attentionForwardRef>): number {
  const { out } = attentionForwardRef(...args);
  let l = 0;
  for (let i = 0; i < out.length; i++) l += out[i] * G[i];
  return l;
}

/** d loss / dx by central differences of step eps, divided by the f32-rounded step actually taken. */
function centralDifferences(x: Float32Array, loss: () => number, eps: number): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + eps;
    const hi = x[i];
    const lp = loss();
    x[i] = x0 - eps;
    const lo = x[i];
    const lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (hi - lo);
  }
  return g;
}

describe('attentionBackwardRef', () => {
  it('matches central finite differences of the forward reference (loss = Σ out ⊙ G)', () => {
    // Row 0 is right-padded, row 1 left-padded; GQA ratio 2.
    const dims = { B: 2, T: 4, NH: 4, KV: 2, HS: 4 };
    const { B, T, NH, KV, HS } = dims;
    const mask = [1, 1, 1, 0, 0, 1, 1, 1];
    const fwdDims = { ...dims, S: T, pos0: 0 };
    const q = randomArray(B * T * NH * HS, 5, -1, 1);
    const k = randomArray(B * T * KV * HS, 6, -1, 1);
    const v = randomArray(B * T * KV * HS, 7, -1, 1);
    const G = randomArray(B * T * NH * HS, 8, -1, 1);
    const loss = () => dotWithForward(G, q, k, v, mask, fwdDims);
    const ref = attentionBackwardRef(G, q, k, v, mask, dims);
    // With this step the truncation and f32 rounding errors of the differences stay below 5e-6
    // (gradients up to ~2.6), so a tolerance of 3e-5 + 1e-4·|g| would catch a 1% error in any term.
    const numeric = (x: Float32Array) => centralDifferences(x, loss, 1e-2);
    expectClose(ref.dq, numeric(q), 3e-5, 1e-4, 'dq');
    expectClose(ref.dk, numeric(k), 3e-5, 1e-4, 'dk');
    expectClose(ref.dv, numeric(v), 3e-5, 1e-4, 'dv');
    // The padding keys (row 0: j = 3; row 1: j = 0) get exactly zero, as does the fully-masked query.
    for (const [b, j] of [
      [0, 3],
      [1, 0],
    ]) {
      const at = (b * T + j) * KV * HS;
      expect(Array.from(ref.dk.subarray(at, at + KV * HS))).toEqual(Array(KV * HS).fill(0));
      expect(Array.from(ref.dv.subarray(at, at + KV * HS))).toEqual(Array(KV * HS).fill(0));
    }
    const q10 = (1 * T + 0) * NH * HS;
    expect(Array.from(ref.dq.subarray(q10, q10 + NH * HS))).toEqual(Array(NH * HS).fill(0));
    expect(ref.dq.some((x) => Math.abs(x) > 1e-3) && ref.dk.some((x) => Math.abs(x) > 1e-3)).toBe(true);
  });
});

describe('attentionBackwardRef with a sliding window, softcapping and a scale', () => {
  it('matches central finite differences of the forward reference (loss = Σ out ⊙ G)', () => {
    // A softcap of 0.75 against raw scores of up to ~±2 (q times 2, scale 0.6), so that tanh is
    // far from linear and a missing or wrong 1 - tanh² factor is plain; window 2 over T = 5;
    // row 0 right-padded, row 1 left-padded; GQA ratio 2.
    const dims = { B: 2, T: 5, NH: 4, KV: 2, HS: 4, window: 2, softcap: 0.75, scale: 0.6 };
    const { B, T, NH, KV, HS } = dims;
    const mask = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1];
    const fwdDims = { ...dims, S: T, pos0: 0 };
    const q = randomArray(B * T * NH * HS, 15, -2, 2);
    const k = randomArray(B * T * KV * HS, 16, -1, 1);
    const v = randomArray(B * T * KV * HS, 17, -1, 1);
    const G = randomArray(B * T * NH * HS, 18, -1, 1);
    const loss = () => dotWithForward(G, q, k, v, mask, fwdDims);
    const ref = attentionBackwardRef(G, q, k, v, mask, dims);
    // Without the (1 - tanh²) factor the gradients differ by far more than the tolerance.
    const uncapped = attentionBackwardRef(G, q, k, v, mask, { ...dims, softcap: 0 });
    const numeric = (x: Float32Array) => centralDifferences(x, loss, 1e-2);
    const [nq, nk, nv] = [numeric(q), numeric(k), numeric(v)];
    expectClose(ref.dq, nq, 3e-5, 1e-4, 'dq');
    expectClose(ref.dk, nk, 3e-5, 1e-4, 'dk');
    expectClose(ref.dv, nv, 3e-5, 1e-4, 'dv');
    const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));
    expect(worst(uncapped.dq, nq), 'the softcap changes dq').toBeGreaterThan(1e-2);
    expect(worst(uncapped.dk, nk), 'the softcap changes dk').toBeGreaterThan(1e-2);
    // Row 1's query 0 (padding, no allowed key) gets exactly dq = 0.
    const q10 = (1 * T + 0) * NH * HS;
    expect(Array.from(ref.dq.subarray(q10, q10 + NH * HS))).toEqual(Array(NH * HS).fill(0));
    expect(ref.dq.some((x) => Math.abs(x) > 1e-3) && ref.dk.some((x) => Math.abs(x) > 1e-3)).toBe(true);
  });
});

describe('attention_backward', () => {
  for (const c of cases) {
    it(`matches the CPU reference: ${c.name}`, async () => {
      const ctx = await gpu();
      const { B, T, NH, HS } = c.dims;
      const mask = flatMask(c.mask, B, T);
      const n = B * T * NH * HS;
      const { q, k, v } = randomQkv({ ...c.dims, S: T }, [11, 29, 43], c.qScale);
      const dout = randomArray(n, 61 + n, -1, 1);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          if (mask[b * T + t] || c.padDout === 'random') continue;
          dout.fill(0, (b * T + t) * NH * HS, (b * T + t + 1) * NH * HS);
        }
      }
      // Padding keys hold NaN: they must never be read, by the forward or the backward.
      poisonUnreadKeys(k, v, mask, { ...c.dims, S: T, pos0: 0 });

      const t = backwardTensors(ctx, c.dims, { q, k, v, mask, dout });
      const rec = new Recorder(ctx);
      attentionForward(rec, t.out, t.lse, t.q, t.k, t.v, t.mask, { ...c.dims, S: T, pos0: 0 });
      attentionBackward(rec, t.dq, t.dk, t.dv, t.scratch, t.dout, t.q, t.k, t.v, t.out, t.lse, t.mask, c.dims);
      rec.submit();
      const got = { dq: await readTensor(ctx, t.dq), dk: await readTensor(ctx, t.dk), dv: await readTensor(ctx, t.dv) };
      const ref = attentionBackwardRef(dout, q, k, v, mask, c.dims);

      expectBackwardMatches(got, ref, mask, c.dims, c.qScale);
    });
  }

  it('rejects cache offsets, a short scratch, and heads that are not a multiple of the kv heads', async () => {
    const ctx = await gpu();
    const x = createTensor(ctx, [64], 'f32');
    const m = createTensor(ctx, [8], 'u32');
    const rec = new Recorder(ctx);
    const dims = { B: 1, T: 2, NH: 2, KV: 1, HS: 8 };
    const call = (d: AttentionBackwardDims, scratch = x) => attentionBackward(rec, x, x, x, scratch, x, x, x, x, x, x, m, d);
    expect(() => call({ ...dims, pos0: 1, S: 3 })).toThrow(/pos0 = 0 and S = T/);
    expect(() => call({ ...dims, S: 4 })).toThrow(/pos0 = 0 and S = T/);
    expect(() => call({ ...dims, NH: 3, KV: 2 })).toThrow(/multiple/);
    expect(() => call({ ...dims, HS: 300 })).toThrow(/head size/);
    expect(() => call(dims, createTensor(ctx, [7], 'f32'))).toThrow(/scratch/);
  });
});
