import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { attentionForward } from '../../src/gpu/kernels/attention.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { gpu } from '../helpers.js';
import { attentionForwardRef } from '../ref/attention.js';
import { expectForwardMatches, flatMask, ones, poisonUnreadKeys, randomQkv, type ForwardCase } from './attention-checks.js';

interface Case extends ForwardCase {
  /** Put NaN in k and v wherever a key must never be read: masked or not yet filled (j >= pos0 + T). */
  poison?: boolean;
}

const cases: Case[] = [
  { name: 'T=1 S=1', dims: { B: 1, T: 1, S: 1, NH: 1, KV: 1, HS: 8, pos0: 0 } },
  { name: 'prefill T=S=5, NH=KV=2', dims: { B: 1, T: 5, S: 5, NH: 2, KV: 2, HS: 8, pos0: 0 } },
  { name: 'GQA ratio 2 (NH=4, KV=2), B=2', dims: { B: 2, T: 6, S: 6, NH: 4, KV: 2, HS: 16, pos0: 0 } },
  { name: 'GQA ratio 4 (NH=8, KV=2), cache larger than filled', dims: { B: 1, T: 4, S: 6, NH: 8, KV: 2, HS: 16, pos0: 0 }, poison: true },
  { name: 'decode T=1 at pos0=6, S=9', dims: { B: 2, T: 1, S: 9, NH: 4, KV: 2, HS: 16, pos0: 6 }, poison: true },
  { name: 'chunked prefill T=3 at pos0=4, S=8', dims: { B: 1, T: 3, S: 8, NH: 4, KV: 1, HS: 16, pos0: 4 }, poison: true },
  { name: 'odd T=7, 112 rows over two workgroups', dims: { B: 2, T: 7, S: 7, NH: 8, KV: 2, HS: 16, pos0: 0 } },
  { name: 'odd head size HS=5', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: 5, pos0: 0 } },
  { name: 'head size HS=192 (the per-row launches: scalar above 128)', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: 192, pos0: 0 } },
  { name: 'head size HS=255', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: 255, pos0: 0 } },
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
      const { B, T, S, NH, KV, HS } = c.dims;
      const mask = flatMask(c.mask, B, S);
      const { q, k, v } = randomQkv(c.dims, [11, 29, 43], c.qScale);
      if (c.poison) poisonUnreadKeys(k, v, mask, c.dims);
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

      expectForwardMatches(got, ref, mask, c.dims);
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
