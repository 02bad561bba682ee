// The attention options of Gemma 2 / 3 (AttentionOptions in src/gpu/kernels/attention.ts: the
// sliding window, logit softcapping, the score scale) on every kernel variant, each named
// explicitly: the per-row kernels, scalar and vec4 (the barrier-free path, SwiftShader's), and the
// subgroup kernels (the GPU path); then through the launchers under both policies. Against the
// CPU references (../ref/attention.ts, whose backward is checked by finite differences in
// attention-backward.test.ts, softcap included) with the checks of attention-checks.ts, at
// awkward shapes: T > window, window 1, KV-cache decoding and chunked prefill with a window
// (pos0 > 0, the keys before the window poisoned with NaN), GQA, padding on either side (queries
// whose window holds only padding), softcaps that bite, head sizes 1 to 256; and a window of at
// least pos0 + T, or options given as 0, give the bits of no options at all.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { Recorder, type KernelSpec } from '../../src/gpu/kernel.js';
import {
  attentionBackward,
  attentionBackwardKeyKernel,
  attentionBackwardPrepKernel,
  attentionBackwardQueryKernel,
  attentionForward,
  attentionForwardKernel,
  attentionSubgroupBackwardKeyKernel,
  attentionSubgroupBackwardQueryKernel,
  attentionSubgroupForwardKernel,
  attentionSubgroupSize,
  attentionVec4,
  attentionVec4BackwardKeyKernel,
  attentionVec4BackwardQueryKernel,
  attentionVec4ForwardKernel,
  type AttentionBackwardDims,
  type AttentionDims,
} from '../../src/gpu/kernels/attention.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { barrierFreeKernels, gpu, randomArray, tiledKernels } from '../helpers.js';
import { attendedKeys, attentionBackwardRef, attentionForwardRef } from '../ref/attention.js';
import {
  backwardTensors,
  checkBackwardKernels,
  checkForwardKernel,
  expectBackwardMatches,
  expectForwardMatches,
  flatMask,
  ones,
  poisonUnreadKeys,
  randomQkv,
  type BackwardCase,
  type ForwardCase,
} from './attention-checks.js';

const ctx = await gpu();
const NO_SUBGROUPS =
  `the device (${ctx.adapterInfo.description || ctx.adapterInfo.vendor}) lacks subgroups or the WGSL subgroup_id ` +
  'builtins, so the subgroup (GPU-path) variants are not run here';
if (!attentionSubgroupSize(ctx.policy, 8)) console.warn(`attention-window.test.ts: ${NO_SUBGROUPS}`);

type AnyKernel = KernelSpec<never>;
interface Variant {
  name: string;
  /** Whether the variant takes head size HS (the vec4 kernels: multiples of 4 up to 128). */
  takes: (HS: number) => boolean;
  /** Whether this device runs it (the subgroup kernels need subgroups and subgroup_id). */
  available: boolean;
  forward: AnyKernel;
  query: AnyKernel;
  key: AnyKernel;
  /** The subgroupMinSize to launch with (0: a per-row kernel, which ignores it). */
  size: (HS: number) => number;
}
const subgroupSize = (HS: number) => attentionSubgroupSize(ctx.policy, HS) ?? 0;
const VARIANTS: Variant[] = [
  {
    name: 'per-row',
    takes: () => true,
    available: true,
    forward: attentionForwardKernel as AnyKernel,
    query: attentionBackwardQueryKernel as AnyKernel,
    key: attentionBackwardKeyKernel as AnyKernel,
    size: () => 0,
  },
  {
    name: 'per-row vec4',
    takes: attentionVec4,
    available: true,
    forward: attentionVec4ForwardKernel as AnyKernel,
    query: attentionVec4BackwardQueryKernel as AnyKernel,
    key: attentionVec4BackwardKeyKernel as AnyKernel,
    size: () => 0,
  },
  {
    name: 'subgroup',
    takes: () => true,
    available: subgroupSize(8) > 0,
    forward: attentionSubgroupForwardKernel as AnyKernel,
    query: attentionSubgroupBackwardQueryKernel as AnyKernel,
    key: attentionSubgroupBackwardKeyKernel as AnyKernel,
    size: subgroupSize,
  },
];

const forwardCases: ForwardCase[] = [
  { name: 'T=9 > window 3, GQA ratio 2, HS=8', dims: { B: 1, T: 9, S: 9, NH: 4, KV: 2, HS: 8, pos0: 0, window: 3 } },
  { name: 'window 1 (each query attends itself), B=2, HS=12', dims: { B: 2, T: 5, S: 5, NH: 2, KV: 1, HS: 12, pos0: 0, window: 1 } },
  {
    name: 'decode T=1 at pos0=7, S=10, window 4 (keys 0..3 are NaN), GQA ratio 2',
    dims: { B: 2, T: 1, S: 10, NH: 4, KV: 2, HS: 16, pos0: 7, window: 4 },
  },
  { name: 'chunked prefill T=3 at pos0=5, S=9, window 3, GQA ratio 3, HS=20', dims: { B: 1, T: 3, S: 9, NH: 3, KV: 1, HS: 20, pos0: 5, window: 3 } },
  {
    name: 'window 2 over a right-padded row (its last queries see only padding) and a left-padded row',
    dims: { B: 2, T: 7, S: 7, NH: 2, KV: 1, HS: 8, pos0: 0, window: 2 },
    mask: [[1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]],
  },
  {
    name: 'left-padded decode T=1 at pos0=6, S=8, window 3, HS=4',
    dims: { B: 2, T: 1, S: 8, NH: 2, KV: 2, HS: 4, pos0: 6, window: 3 },
    mask: [[0, 0, 0, 0, 0, 1, 1, 1], ones(8)],
  },
  { name: 'softcap 2 against scores ~10s (q x 8), GQA ratio 2, HS=16', dims: { B: 1, T: 6, S: 6, NH: 4, KV: 2, HS: 16, pos0: 0, softcap: 2 }, qScale: 8 },
  { name: 'softcap 50 (Gemma 2) against scores ~100s (q x 60)', dims: { B: 1, T: 5, S: 5, NH: 2, KV: 1, HS: 16, pos0: 0, softcap: 50 }, qScale: 60 },
  {
    name: 'tiny-random-gemma3: HS=256, scale 1/16, window 5 over T=8, NH=2, KV=1',
    dims: { B: 1, T: 8, S: 8, NH: 2, KV: 1, HS: 256, pos0: 0, window: 5, scale: 1 / 16 },
  },
  {
    name: 'all three at a chunk T=4 at pos0=3, S=9: window 3, softcap 3, scale 0.4, GQA ratio 3, padding',
    dims: { B: 2, T: 4, S: 9, NH: 3, KV: 1, HS: 20, pos0: 3, window: 3, softcap: 3, scale: 0.4 },
    mask: [[0, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0, 0]],
    qScale: 4,
  },
  ...[1, 80, 96, 192, 255, 256].map((HS) => ({
    name: `HS=${HS}, window 2, softcap 1`,
    dims: { B: 1, T: 4, S: 4, NH: 2, KV: 1, HS, pos0: 0, window: 2, softcap: 1 },
  })),
];

const backwardCases: BackwardCase[] = [
  { name: 'T=9 > window 3, GQA ratio 2, HS=8', dims: { B: 1, T: 9, NH: 4, KV: 2, HS: 8, window: 3 } },
  { name: 'window 1, B=2, HS=12', dims: { B: 2, T: 5, NH: 2, KV: 1, HS: 12, window: 1 } },
  {
    name: 'window 2 over a right-padded row (queries that see only padding get dq = 0) and a left-padded row',
    dims: { B: 2, T: 7, NH: 4, KV: 2, HS: 8, window: 2 },
    mask: [[1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]],
  },
  { name: 'softcap 2 against scores ~10s (q x 8), GQA ratio 2, HS=16', dims: { B: 1, T: 6, NH: 4, KV: 2, HS: 16, softcap: 2 }, qScale: 8 },
  { name: 'softcap 50, window 4, scale 0.5, GQA ratio 3, HS=20', dims: { B: 1, T: 7, NH: 3, KV: 1, HS: 20, window: 4, softcap: 50, scale: 0.5 } },
  { name: 'tiny-random-gemma3: HS=256, scale 1/16, window 5 over T=8', dims: { B: 1, T: 8, NH: 2, KV: 1, HS: 256, window: 5, scale: 1 / 16 } },
  ...[1, 80, 96, 192, 255].map((HS) => ({ name: `HS=${HS}, window 2, softcap 1`, dims: { B: 1, T: 4, NH: 2, KV: 1, HS, window: 2, softcap: 1 } })),
];

describe('the sliding window boundary', () => {
  it("is Hugging Face transformers': keys j with q - W < j <= q (kv_idx > q_idx - sliding_window, and causal)", () => {
    expect(attendedKeys(5, 3)).toEqual([3, 5]); // key 2, exactly W = 3 back, is not attended
    expect(attendedKeys(1, 3)).toEqual([0, 1]);
    expect(attendedKeys(2, 3)).toEqual([0, 2]);
    expect(attendedKeys(3, 3)).toEqual([1, 3]);
    expect(attendedKeys(4, 1)).toEqual([4, 4]);
    expect(attendedKeys(4, 0)).toEqual([0, 4]);
  });
});

for (const variant of VARIANTS) {
  describe(`${variant.name} attention with window / softcap / scale`, () => {
    for (const c of forwardCases.filter((c) => variant.takes(c.dims.HS))) {
      const size = variant.size(c.dims.HS);
      it.skipIf(!variant.available)(`forward matches the CPU reference: ${c.name}`, () =>
        checkForwardKernel(ctx, c, (rec, bindings) => rec.run(variant.forward, { ...c.dims, subgroupMinSize: size } as never, bindings)));
    }
    for (const c of backwardCases.filter((c) => variant.takes(c.dims.HS))) {
      const size = variant.size(c.dims.HS);
      it.skipIf(!variant.available)(`backward matches the CPU reference: ${c.name}`, () =>
        checkBackwardKernels(ctx, c, (rec, t) => {
          const dims = { ...c.dims, subgroupMinSize: size } as never;
          rec.run(variant.query, dims, [t.dq, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
          rec.run(variant.key, dims, [t.dk, t.dv, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
        }));
    }

    it.skipIf(!variant.available)('gives the bits of no options with a window >= pos0 + T and with options given as 0', async () => {
      const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
      // Forward at a chunk (pos0 = 3, T = 4, S = 9) and training (pos0 = 0, S = T = 6).
      for (const base of [
        { B: 2, T: 4, S: 9, NH: 4, KV: 2, HS: 12, pos0: 3 },
        { B: 1, T: 6, S: 6, NH: 2, KV: 1, HS: 12, pos0: 0 },
      ]) {
        const plain = await runForward(variant, base);
        for (const options of [{ window: base.pos0 + base.T }, { window: base.S }, { window: 1000 }, { window: 0, softcap: 0 }]) {
          const got = await runForward(variant, { ...base, ...options });
          expect(bits(got.out), `out with ${JSON.stringify(options)}`).toEqual(bits(plain.out));
          expect(bits(got.lse), `lse with ${JSON.stringify(options)}`).toEqual(bits(plain.lse));
        }
      }
      const base = { B: 1, T: 6, NH: 2, KV: 1, HS: 12 };
      const plain = await runBackward(variant, base);
      for (const options of [{ window: 6 }, { window: 1000 }, { window: 0, softcap: 0, scale: 1 / Math.sqrt(12) }]) {
        const got = await runBackward(variant, { ...base, ...options });
        for (const name of ['dq', 'dk', 'dv'] as const) expect(bits(got[name]), `${name} with ${JSON.stringify(options)}`).toEqual(bits(plain[name]));
      }
    });
  });
}

/** One forward launch of `variant` on seeded inputs (all keys real): out and lse. */
async function runForward(variant: Variant, dims: AttentionDims) {
  const { B, T, S, NH, KV, HS } = dims;
  const { q, k, v } = randomQkv(dims, [5, 17, 37]);
  const out = createTensor(ctx, [B, T, NH, HS], 'f32');
  const lse = createTensor(ctx, [B, NH, T], 'f32');
  const rec = new Recorder(ctx);
  rec.run(variant.forward, { ...dims, subgroupMinSize: variant.size(HS) } as never, [
    out,
    lse,
    createTensor(ctx, [B, T, NH, HS], 'f32', q),
    createTensor(ctx, [B, S, KV, HS], 'f32', k),
    createTensor(ctx, [B, S, KV, HS], 'f32', v),
    createTensor(ctx, [B, S], 'u32', flatMask(undefined, B, S)),
  ]);
  rec.submit();
  return { out: await readTensor(ctx, out), lse: await readTensor(ctx, lse) };
}

/** Prep and `variant`'s query and key kernels on seeded inputs, the saved out and lse from the CPU reference: dq, dk, dv. */
async function runBackward(variant: Variant, dims: AttentionBackwardDims) {
  const { B, T, NH, HS } = dims;
  const mask = flatMask(undefined, B, T);
  const { q, k, v } = randomQkv({ ...dims, S: T }, [7, 19, 29]);
  const dout = randomArray(B * T * NH * HS, 83, -1, 1);
  const t = backwardTensors(ctx, dims, { q, k, v, mask, dout }, attentionForwardRef(q, k, v, mask, { ...dims, S: T, pos0: 0 }));
  const d = { ...dims, subgroupMinSize: variant.size(HS) } as never;
  const rec = new Recorder(ctx);
  rec.run(attentionBackwardPrepKernel, dims, [t.scratch, t.dout, t.out, t.lse]);
  rec.run(variant.query, d, [t.dq, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
  rec.run(variant.key, d, [t.dk, t.dv, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
  rec.submit();
  return { dq: await readTensor(ctx, t.dq), dk: await readTensor(ctx, t.dk), dv: await readTensor(ctx, t.dv) };
}

describe('attentionForward and attentionBackward with window / softcap / scale', () => {
  const policies: Array<[string, GpuContext]> = [
    ['the barrier-free policy', barrierFreeKernels(ctx)],
    ['the tiled policy', tiledKernels(ctx)],
  ];
  for (const [name, c] of policies) {
    for (const HS of [8, 6, 256]) {
      it(`train and decode on ${name}, HS=${HS}: window 3, softcap 4, scale 0.3, GQA ratio 2, a left-padded row`, async () => {
        const options = { window: 3, softcap: 4, scale: 0.3 };
        const [B, T, NH, KV] = [2, 6, 4, 2];
        const mask = [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1];
        const dims = { B, T, NH, KV, HS, ...options };
        const { q, k, v } = randomQkv({ ...dims, S: T }, [3, 13, 23], 3);
        poisonUnreadKeys(k, v, mask, { ...dims, S: T, pos0: 0 });
        const dout = randomArray(B * T * NH * HS, 91, -1, 1);
        const t = backwardTensors(c, dims, { q, k, v, mask, dout });
        const rec = new Recorder(c);
        attentionForward(rec, t.out, t.lse, t.q, t.k, t.v, t.mask, { ...dims, S: T, pos0: 0 });
        attentionBackward(rec, t.dq, t.dk, t.dv, t.scratch, t.dout, t.q, t.k, t.v, t.out, t.lse, t.mask, { ...dims, S: T, pos0: 0 });
        rec.submit();
        const fwd = { out: await readTensor(c, t.out), lse: await readTensor(c, t.lse) };
        expectForwardMatches(fwd, attentionForwardRef(q, k, v, mask, { ...dims, S: T, pos0: 0 }), mask, { ...dims, S: T, pos0: 0 });
        const got = { dq: await readTensor(c, t.dq), dk: await readTensor(c, t.dk), dv: await readTensor(c, t.dv) };
        expectBackwardMatches(got, attentionBackwardRef(dout, q, k, v, mask, dims), mask, dims, 3);

        // Decoding the last position from the cache (T = 1 at pos0 = 5) gives the prefill's last row.
        const dec = { ...dims, T: 1, S: T, pos0: T - 1 };
        const qLast = new Float32Array(B * NH * HS);
        for (let b = 0; b < B; b++) qLast.set(q.subarray(((b * T + T - 1) * NH) * HS, (b * T + T) * NH * HS), b * NH * HS);
        const out1 = createTensor(c, [B, 1, NH, HS], 'f32');
        const lse1 = createTensor(c, [B, NH, 1], 'f32');
        const rec2 = new Recorder(c);
        attentionForward(rec2, out1, lse1, createTensor(c, [B, 1, NH, HS], 'f32', qLast), t.k, t.v, t.mask, dec);
        rec2.submit();
        const got1 = { out: await readTensor(c, out1), lse: await readTensor(c, lse1) };
        expectForwardMatches(got1, attentionForwardRef(qLast, k, v, mask, dec), mask, dec);
      });
    }
  }

  it('reject a window that is not a non-negative integer, a negative softcap and a scale that is not positive', async () => {
    const x = createTensor(ctx, [64], 'f32');
    const m = createTensor(ctx, [8], 'u32');
    const rec = new Recorder(ctx);
    const fwd = { B: 1, T: 2, S: 2, NH: 2, KV: 1, HS: 8, pos0: 0 };
    const bwd = { B: 1, T: 2, NH: 2, KV: 1, HS: 8 };
    const forward = (o: object) => attentionForward(rec, x, x, x, x, x, m, { ...fwd, ...o });
    const backward = (o: object) => attentionBackward(rec, x, x, x, x, x, x, x, x, x, x, m, { ...bwd, ...o });
    for (const call of [forward, backward]) {
      expect(() => call({ window: -1 })).toThrow(/window/);
      expect(() => call({ window: 2.5 })).toThrow(/window/);
      expect(() => call({ softcap: -1 })).toThrow(/softcap/);
      expect(() => call({ softcap: NaN })).toThrow(/softcap/);
      expect(() => call({ scale: 0 })).toThrow(/scale/);
      expect(() => call({ scale: -0.5 })).toThrow(/scale/);
      expect(() => call({ scale: Infinity })).toThrow(/scale/);
    }
  });
});
