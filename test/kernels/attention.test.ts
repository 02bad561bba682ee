import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { attentionForward, type AttentionDims } from '../../src/gpu/kernels/attention.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { attentionForwardRef } from '../ref/attention.js';

interface Case {
  name: string;
  dims: AttentionDims;
  /** [B, S] key mask; all ones when omitted. */
  mask?: number[][];
  /** Multiplies q, to push the scores far from 0 (softmax stability). */
  qScale?: number;
  /** Put NaN in k and v wherever a key must never be read: masked or not yet filled (j >= pos0 + T). */
  poison?: boolean;
}

const ones = (n: number) => Array<number>(n).fill(1);

const cases: Case[] = [
  { name: 'T=1 S=1', dims: { B: 1, T: 1, S: 1, NH: 1, KV: 1, HS: 8, pos0: 0 } },
  { name: 'prefill T=S=5, NH=KV=2', dims: { B: 1, T: 5, S: 5, NH: 2, KV: 2, HS: 8, pos0: 0 } },
  { name: 'GQA ratio 2 (NH=4, KV=2), B=2', dims: { B: 2, T: 6, S: 6, NH: 4, KV: 2, HS: 16, pos0: 0 } },
  { name: 'GQA ratio 4 (NH=8, KV=2), cache larger than filled', dims: { B: 1, T: 4, S: 6, NH: 8, KV: 2, HS: 16, pos0: 0 }, poison: true },
  { name: 'decode T=1 at pos0=6, S=9', dims: { B: 2, T: 1, S: 9, NH: 4, KV: 2, HS: 16, pos0: 6 }, poison: true },
  { name: 'chunked prefill T=3 at pos0=4, S=8', dims: { B: 1, T: 3, S: 8, NH: 4, KV: 1, HS: 16, pos0: 4 }, poison: true },
  { name: 'odd T=7, 112 rows over two workgroups', dims: { B: 2, T: 7, S: 7, NH: 8, KV: 2, HS: 16, pos0: 0 } },
  { name: 'odd head size HS=5', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: 5, pos0: 0 } },
  { name: 'largest head size HS=256', dims: { B: 1, T: 2, S: 2, NH: 2, KV: 1, HS: 256, pos0: 0 } },
  { name: 'large scores (|score| ~ 100s)', dims: { B: 1, T: 5, S: 5, NH: 2, KV: 1, HS: 16, pos0: 0 }, qScale: 60 },
  {
    name: 'right-padded row (mask ends in zeros)',
    dims: { B: 2, T: 7, S: 7, NH: 4, KV: 2, HS: 8, pos0: 0 },
    mask: [ones(7), [1, 1, 1, 1, 0, 0, 0]],
    poison: true,
  },
  {
    name: 'left-padded row (mask starts with zeros)',
    dims: { B: 2, T: 7, S: 7, NH: 4, KV: 2, HS: 8, pos0: 0 },
    mask: [ones(7), [0, 0, 0, 1, 1, 1, 1]],
    poison: true,
  },
  {
    name: 'left-padded decode T=1 at pos0=5, S=8',
    dims: { B: 2, T: 1, S: 8, NH: 2, KV: 1, HS: 16, pos0: 5 },
    mask: [[0, 0, 1, 1, 1, 1, 1, 1], ones(8)],
    poison: true,
  },
];

describe('attention_forward', () => {
  for (const c of cases) {
    it(`matches the CPU reference: ${c.name}`, async () => {
      const ctx = await gpu();
      const { B, T, S, NH, KV, HS, pos0 } = c.dims;
      const mask = (c.mask ?? Array.from({ length: B }, () => ones(S))).flat();
      const q = randomArray(B * T * NH * HS, 11 + B * T * NH * HS, -1, 1).map((x) => x * (c.qScale ?? 1));
      const k = randomArray(B * S * KV * HS, 29 + S * HS, -1, 1);
      const v = randomArray(B * S * KV * HS, 43 + S * KV, -2, 2);
      if (c.poison) {
        for (let b = 0; b < B; b++) {
          for (let j = 0; j < S; j++) {
            if (mask[b * S + j] && j < pos0 + T) continue;
            const at = (b * S + j) * KV * HS;
            k.fill(NaN, at, at + KV * HS);
            v.fill(NaN, at, at + KV * HS);
          }
        }
      }
      const out = createTensor(ctx, [B, T, NH, HS], 'f32');
      const lse = createTensor(ctx, [B, NH, T], 'f32');
      const rec = new Recorder(ctx);
      attentionForward(
        rec,
        out,
        lse,
        createTensor(ctx, [B, T, NH, HS], 'f32', q),
        createTensor(ctx, [B, S, KV, HS], 'f32', k),
        createTensor(ctx, [B, S, KV, HS], 'f32', v),
        createTensor(ctx, [B, S], 'u32', mask),
        c.dims,
      );
      rec.submit();
      const got = { out: await readTensor(ctx, out), lse: await readTensor(ctx, lse) };
      const ref = attentionForwardRef(q, k, v, mask, c.dims);

      expect(got.out.every(Number.isFinite), 'out is finite everywhere').toBe(true);
      expect(got.lse.every(Number.isFinite), 'lse is finite everywhere').toBe(true);
      // Compare the query rows that are real tokens; padding queries only have to be finite, and a
      // query with no allowed key (left padding) must give out = 0 and lse = -1e30.
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const p = pos0 + t;
          const anyKey = mask.slice(b * S, b * S + p + 1).some((m) => m !== 0);
          if (!mask[b * S + p] && anyKey) continue;
          for (let h = 0; h < NH; h++) {
            const o = ((b * T + t) * NH + h) * HS;
            const l = (b * NH + h) * T + t;
            const where = `b=${b} t=${t} h=${h}`;
            expectClose(got.out.subarray(o, o + HS), ref.out.subarray(o, o + HS), 2e-5, 1e-4, `out ${where}`);
            expectClose([got.lse[l]], [ref.lse[l]], 2e-5, 1e-5, `lse ${where}`);
            if (!anyKey) {
              expect(Array.from(got.out.subarray(o, o + HS)), `out ${where} (no allowed key)`).toEqual(Array(HS).fill(0));
              expect(got.lse[l], `lse ${where} (no allowed key)`).toBe(Math.fround(-1e30));
            }
          }
        }
      }
    });
  }

  it('rejects a head count that is not a multiple of the kv heads, and positions past the cache', async () => {
    const ctx = await gpu();
    const t = createTensor(ctx, [1], 'f32');
    const m = createTensor(ctx, [1], 'u32');
    const rec = new Recorder(ctx);
    const dims = { B: 1, T: 1, S: 1, NH: 3, KV: 2, HS: 8, pos0: 0 };
    expect(() => attentionForward(rec, t, t, t, t, t, m, dims)).toThrow(/multiple/);
    expect(() => attentionForward(rec, t, t, t, t, t, m, { ...dims, NH: 2, pos0: 1 })).toThrow(/cache/);
    expect(() => attentionForward(rec, t, t, t, t, t, m, { ...dims, NH: 2, HS: 512 })).toThrow(/head size/);
  });
});
