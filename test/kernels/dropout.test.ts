// dropout_forward: the exact mask of the counter-based hash against the CPU reference, the keep
// rate and independence of masks statistically, the 1/(1 − p) scale, and accumulation.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { dropoutForward, writeDropoutStep, type DropoutDims } from '../../src/gpu/kernels/dropout.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dropoutForwardRef, dropoutKeepRef, mix32, type DropoutRefKey } from '../ref/dropout.js';

/** dropout of `inp` on the GPU; with `init`, accumulated into it. */
async function run(inp: Float32Array, p: number, key: DropoutRefKey, init?: Float32Array): Promise<Float32Array> {
  const ctx = await gpu();
  const n = inp.length;
  const out = createTensor(ctx, [n], 'f32', init);
  const x = createTensor(ctx, [n], 'f32', inp);
  const step = createTensor(ctx, [1], 'u32');
  writeDropoutStep(ctx, step, key.step);
  const rec = new Recorder(ctx);
  dropoutForward(rec, out, x, step, { n, p, seed: key.seed, stream: key.stream, accumulate: !!init });
  rec.submit();
  const got = await readTensor(ctx, out);
  for (const t of [out, x, step]) t.destroy();
  return got;
}

describe('dropout CPU reference', () => {
  it('mix32 is MurmurHash3 fmix32 (known values) and a bijection on a sample', () => {
    expect(mix32(0)).toBe(0);
    expect(mix32(1)).toBe(0x514e28b7);
    expect(mix32(0xffffffff)).toBe(0x81f16f39);
    const seen = new Set<number>();
    for (let i = 0; i < 100000; i++) seen.add(mix32(i));
    expect(seen.size).toBe(100000);
  });
});

describe('dropout_forward', () => {
  // One element, around one 256-wide workgroup, a ragged last workgroup; keys with 0, small and
  // full-width u32 fields; p low, half and high.
  const CASES: Array<[number, number, DropoutRefKey]> = [
    [1, 0.5, { seed: 0, step: 0, stream: 0 }],
    [255, 0.1, { seed: 1, step: 2, stream: 3 }],
    [256, 0.5, { seed: 42, step: 7, stream: 12 }],
    [257, 0.9, { seed: 0xffffffff, step: 0xfffffffe, stream: 0x80000000 }],
    [5000, 0.25, { seed: 12345, step: 99, stream: 34 }],
  ];
  for (const [n, p, key] of CASES) {
    it(`draws exactly the CPU hash's mask and scales by 1/(1-p) at n=${n} p=${p} key=${JSON.stringify(key)}`, async () => {
      const inp = randomArray(n, 3 + n, -2, 2);
      const got = await run(inp, p, key);
      expectClose(got, dropoutForwardRef(inp, p, key), 0, 0, 'out');
      // Kept elements are x/(1-p) in f32; dropped ones are 0.
      const keep = dropoutKeepRef(n, p, key);
      const scale = Math.fround(1 / (1 - p));
      for (let i = 0; i < n; i++) expect(got[i]).toBe(keep[i] ? Math.fround(inp[i] * scale) : 0);
    });
  }

  it('accumulates: out += dropout(inp)', async () => {
    const n = 1000;
    const key = { seed: 5, step: 6, stream: 7 };
    const inp = randomArray(n, 11, -1, 1);
    const init = randomArray(n, 12, -1, 1);
    const ref = dropoutForwardRef(inp, 0.4, key);
    expectClose(await run(inp, 0.4, key, init), Float32Array.from(ref, (v, i) => v + init[i]), 1e-6, 1e-6, 'out');
  });

  it('keeps a fraction 1 − p of elements, and E[out] = inp', async () => {
    const n = 200_000;
    const ones = new Float32Array(n).fill(1);
    for (const p of [0.05, 0.3, 0.5, 0.8]) {
      const out = await run(ones, p, { seed: 9, step: 1, stream: 2 });
      const kept = out.reduce((k, v) => k + (v !== 0 ? 1 : 0), 0);
      // Binomial(n, 1 − p): within 5 standard deviations.
      expect(Math.abs(kept / n - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
      expect(Math.abs(out.reduce((s, v) => s + v, 0) / n - 1)).toBeLessThan(5 * Math.sqrt(p / (1 - p) / n));
      // Kept elements in each quarter of the range: no drift along the index.
      for (let q = 0; q < 4; q++) {
        const part = out.subarray((q * n) / 4, ((q + 1) * n) / 4);
        const rate = part.reduce((k, v) => k + (v !== 0 ? 1 : 0), 0) / part.length;
        expect(Math.abs(rate - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / part.length));
      }
    }
  });

  it('draws independent masks for another seed, step or stream, and the same mask for the same key', async () => {
    const n = 100_000;
    const p = 0.5;
    const ones = new Float32Array(n).fill(1);
    const base = { seed: 3, step: 10, stream: 4 };
    const a = await run(ones, p, base);
    expect(await run(ones, p, base)).toEqual(a);
    for (const other of [{ ...base, seed: 4 }, { ...base, step: 11 }, { ...base, stream: 5 }]) {
      const b = await run(ones, p, other);
      // Both kept or both dropped with probability p² + (1 − p)² = 1/2 when independent.
      const agree = a.reduce((k, v, i) => k + ((v !== 0) === (b[i] !== 0) ? 1 : 0), 0) / n;
      expect(Math.abs(agree - 0.5), JSON.stringify(other)).toBeLessThan(5 * Math.sqrt(0.25 / n));
    }
  });

  it('with p = 0 keeps everything unchanged', async () => {
    const inp = randomArray(300, 21, -1, 1);
    expect(await run(inp, 0, { seed: 1, step: 1, stream: 1 })).toEqual(inp);
  });

  it('rejects p outside [0, 1), keys that are not u32, short tensors and a step buffer that is not one u32', async () => {
    const ctx = await gpu();
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    const rec = new Recorder(ctx);
    const step = createTensor(ctx, [1], 'u32');
    const dims: DropoutDims = { n: 4, p: 0.5, seed: 0, stream: 0 };
    expect(() => dropoutForward(rec, t(4), t(4), step, { ...dims, p: 1 })).toThrow(/p must be in \[0, 1\), got 1/);
    expect(() => writeDropoutStep(ctx, step, -1)).toThrow(/step must be an integer in \[0, 2³²\), got -1/);
    expect(() => dropoutForward(rec, t(4), t(4), step, { ...dims, seed: 2 ** 32 })).toThrow(/seed must be/);
    expect(() => dropoutForward(rec, t(3), t(4), step, dims)).toThrow(/n=4 for out \[3\] and inp \[4\]/);
    expect(() => dropoutForward(rec, t(4), t(4), t(1), dims)).toThrow(/the step buffer must be one u32, got f32 \[1\]/);
    expect(() => writeDropoutStep(ctx, createTensor(ctx, [1], 'i32'), 3)).toThrow(/the step buffer must be one u32, got i32/);
    rec.submit();
  });
});
