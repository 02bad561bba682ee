// The subgroup attention kernels (attention_subgroup_*.wgsl: one subgroup per row, lanes splitting
// the head dimension), each named explicitly rather than left to the launcher's per-device choice
// (barrier-policy.ts), against the CPU references, at head sizes that are and are not multiples of
// the subgroup size, GQA ratios 1, 2 and 3, padding on either side and the forward's KV-cache
// offsets. Tolerances are those of attention.test.ts and attention-backward.test.ts.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import {
  ATTENTION_MAX_DIMS_PER_LANE,
  ATTENTION_MAX_HS,
  attentionBackwardPrepKernel,
  attentionBackwardScratchShape,
  attentionSubgroupBackwardKeyKernel,
  attentionSubgroupBackwardQueryKernel,
  attentionSubgroupForwardKernel,
  attentionBackward,
  attentionForward,
  attentionSubgroupSize,
  type AttentionDims,
} from '../../src/gpu/kernels/attention.js';
import { preferSubgroupAttention } from '../../src/gpu/kernels/barrier-policy.js';
import { disableProfiling, enableProfiling, takeProfile } from '../../src/gpu/profile.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { attentionBackwardRef, attentionForwardRef } from '../ref/attention.js';

const ctx = await gpu();
const subgroupMinSize = attentionSubgroupSize(ctx, 8);
const NO_SUBGROUPS =
  `the device (${ctx.adapterInfo.description || ctx.adapterInfo.vendor}) lacks subgroups or the WGSL subgroup_id ` +
  'builtins, so the subgroup attention kernels cannot run here';
if (!subgroupMinSize) console.warn(`attention-subgroup.test.ts skipped: ${NO_SUBGROUPS}`);

const ones = (n: number) => Array<number>(n).fill(1);

interface ForwardCase {
  name: string;
  dims: AttentionDims;
  mask?: number[][];
  qScale?: number;
}

const forwardCases: ForwardCase[] = [
  { name: 'T=1 S=1, HS=8', dims: { B: 1, T: 1, S: 1, NH: 1, KV: 1, HS: 8, pos0: 0 } },
  { name: 'T=7, GQA ratio 1, HS=12, 42 rows', dims: { B: 3, T: 7, S: 7, NH: 2, KV: 2, HS: 12, pos0: 0 } },
  { name: 'GQA ratio 2, HS=10, B=2', dims: { B: 2, T: 5, S: 5, NH: 4, KV: 2, HS: 10, pos0: 0 } },
  { name: 'GQA ratio 3, HS=6, 84 rows over several workgroups', dims: { B: 2, T: 7, S: 7, NH: 6, KV: 2, HS: 6, pos0: 0 } },
  { name: 'HS=64, GQA ratio 3', dims: { B: 1, T: 5, S: 5, NH: 3, KV: 1, HS: 64, pos0: 0 } },
  { name: 'HS=5 (fewer dims than lanes for some)', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: 5, pos0: 0 } },
  { name: 'HS=3 (some lanes own no dimension)', dims: { B: 1, T: 4, S: 4, NH: 2, KV: 2, HS: 3, pos0: 0 } },
  { name: 'decode T=1 at pos0=6, S=9', dims: { B: 2, T: 1, S: 9, NH: 4, KV: 2, HS: 12, pos0: 6 } },
  { name: 'chunked prefill T=3 at pos0=4, S=8, GQA ratio 3', dims: { B: 1, T: 3, S: 8, NH: 3, KV: 1, HS: 10, pos0: 4 } },
  { name: 'large scores (|score| ~ 100s)', dims: { B: 1, T: 5, S: 5, NH: 2, KV: 1, HS: 16, pos0: 0 }, qScale: 60 },
  {
    name: 'left- and right-padded rows, HS=8',
    dims: { B: 2, T: 7, S: 7, NH: 4, KV: 2, HS: 8, pos0: 0 },
    mask: [[1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]],
  },
  {
    name: 'left-padded chunk at pos0=2, S=9, HS=6',
    dims: { B: 1, T: 4, S: 9, NH: 3, KV: 1, HS: 6, pos0: 2 },
    mask: [[0, 0, 0, 0, 1, 1, 1, 1, 1]],
  },
];

describe.skipIf(!subgroupMinSize)('attention_subgroup_forward', () => {
  for (const c of forwardCases) {
    it(`matches the CPU reference: ${c.name}`, async () => {
      const { B, T, S, NH, KV, HS, pos0 } = c.dims;
      const mask = (c.mask ?? Array.from({ length: B }, () => ones(S))).flat();
      const q = randomArray(B * T * NH * HS, 7 + B * T * NH * HS, -1, 1).map((x) => x * (c.qScale ?? 1));
      const k = randomArray(B * S * KV * HS, 31 + S * HS, -1, 1);
      const v = randomArray(B * S * KV * HS, 47 + S * KV, -2, 2);
      // NaN wherever a key must never be read: masked, or not yet filled (j >= pos0 + T).
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < S; j++) {
          if (mask[b * S + j] && j < pos0 + T) continue;
          k.fill(NaN, (b * S + j) * KV * HS, (b * S + j + 1) * KV * HS);
          v.fill(NaN, (b * S + j) * KV * HS, (b * S + j + 1) * KV * HS);
        }
      }
      const out = createTensor(ctx, [B, T, NH, HS], 'f32', new Float32Array(B * T * NH * HS).fill(NaN));
      const lse = createTensor(ctx, [B, NH, T], 'f32', new Float32Array(B * NH * T).fill(NaN));
      const rec = new Recorder(ctx);
      rec.run(attentionSubgroupForwardKernel, { ...c.dims, subgroupMinSize: subgroupMinSize! }, [
        out,
        lse,
        createTensor(ctx, [B, T, NH, HS], 'f32', q),
        createTensor(ctx, [B, S, KV, HS], 'f32', k),
        createTensor(ctx, [B, S, KV, HS], 'f32', v),
        createTensor(ctx, [B, S], 'u32', mask),
      ]);
      rec.submit();
      const got = { out: await readTensor(ctx, out), lse: await readTensor(ctx, lse) };
      const ref = attentionForwardRef(q, k, v, mask, c.dims);

      expect(got.out.every(Number.isFinite), 'out is written and finite everywhere').toBe(true);
      expect(got.lse.every(Number.isFinite), 'lse is written and finite everywhere').toBe(true);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const p = pos0 + t;
          const anyKey = mask.slice(b * S, b * S + p + 1).some((m) => m !== 0);
          if (!mask[b * S + p] && anyKey) continue; // a padding query: only finite
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
});

interface BackwardCase {
  name: string;
  dims: { B: number; T: number; NH: number; KV: number; HS: number };
  mask?: number[][];
  qScale?: number;
}

const backwardCases: BackwardCase[] = [
  { name: 'T=1, HS=8', dims: { B: 1, T: 1, NH: 1, KV: 1, HS: 8 } },
  { name: 'T=7, GQA ratio 1, HS=12, B=3', dims: { B: 3, T: 7, NH: 2, KV: 2, HS: 12 } },
  { name: 'GQA ratio 2, HS=10', dims: { B: 2, T: 5, NH: 4, KV: 2, HS: 10 } },
  { name: 'GQA ratio 3, HS=6, 84 query rows', dims: { B: 2, T: 7, NH: 6, KV: 2, HS: 6 } },
  { name: 'HS=64, GQA ratio 3', dims: { B: 1, T: 5, NH: 3, KV: 1, HS: 64 } },
  { name: 'HS=3 (some lanes own no dimension)', dims: { B: 1, T: 4, NH: 2, KV: 1, HS: 3 } },
  { name: 'large scores (|score| ~ 10s)', dims: { B: 1, T: 5, NH: 2, KV: 1, HS: 16 }, qScale: 8 },
  {
    name: 'a right-padded and a left-padded row, GQA ratio 2, HS=8',
    dims: { B: 2, T: 7, NH: 4, KV: 2, HS: 8 },
    mask: [
      [1, 1, 1, 1, 1, 0, 0],
      [0, 0, 1, 1, 1, 1, 1],
    ],
  },
  { name: 'left-padded row, GQA ratio 3, HS=10', dims: { B: 1, T: 6, NH: 3, KV: 1, HS: 10 }, mask: [[0, 0, 0, 1, 1, 1]] },
];

describe.skipIf(!subgroupMinSize)('attention_subgroup_backward_query and _key', () => {
  for (const c of backwardCases) {
    it(`match the CPU reference: ${c.name}`, async () => {
      const { B, T, NH, KV, HS } = c.dims;
      const mask = (c.mask ?? Array.from({ length: B }, () => ones(T))).flat();
      const n = B * T * NH * HS;
      const q = randomArray(n, 13 + n, -1, 1).map((x) => x * (c.qScale ?? 1));
      const k = randomArray(B * T * KV * HS, 23 + T * HS, -1, 1);
      const v = randomArray(B * T * KV * HS, 41 + T * KV, -2, 2);
      // dout is random at padding queries too: a query with no allowed key must still give dq = 0.
      const dout = randomArray(n, 67 + n, -1, 1);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < T; j++) {
          if (mask[b * T + j]) continue;
          k.fill(NaN, (b * T + j) * KV * HS, (b * T + j + 1) * KV * HS);
          v.fill(NaN, (b * T + j) * KV * HS, (b * T + j + 1) * KV * HS);
        }
      }
      // The forward's saved out and lse come from the CPU reference, so that this checks the
      // backward kernels alone.
      const fwd = attentionForwardRef(q, k, v, mask, { ...c.dims, S: T, pos0: 0 });
      const t = {
        q: createTensor(ctx, [B, T, NH, HS], 'f32', q),
        k: createTensor(ctx, [B, T, KV, HS], 'f32', k),
        v: createTensor(ctx, [B, T, KV, HS], 'f32', v),
        mask: createTensor(ctx, [B, T], 'u32', mask),
        out: createTensor(ctx, [B, T, NH, HS], 'f32', fwd.out),
        lse: createTensor(ctx, [B, NH, T], 'f32', fwd.lse),
        dout: createTensor(ctx, [B, T, NH, HS], 'f32', dout),
        dq: createTensor(ctx, [B, T, NH, HS], 'f32', new Float32Array(n).fill(NaN)),
        dk: createTensor(ctx, [B, T, KV, HS], 'f32', new Float32Array(B * T * KV * HS).fill(NaN)),
        dv: createTensor(ctx, [B, T, KV, HS], 'f32', new Float32Array(B * T * KV * HS).fill(NaN)),
        scratch: createTensor(ctx, attentionBackwardScratchShape(c.dims), 'f32'),
      };
      const dims = { ...c.dims, subgroupMinSize: subgroupMinSize! };
      const rec = new Recorder(ctx);
      rec.run(attentionBackwardPrepKernel, c.dims, [t.scratch, t.dout, t.out, t.lse]);
      rec.run(attentionSubgroupBackwardQueryKernel, dims, [t.dq, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
      rec.run(attentionSubgroupBackwardKeyKernel, dims, [t.dk, t.dv, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
      rec.submit();
      const got = { dq: await readTensor(ctx, t.dq), dk: await readTensor(ctx, t.dk), dv: await readTensor(ctx, t.dv) };
      const ref = attentionBackwardRef(dout, q, k, v, mask, c.dims);

      for (const name of ['dq', 'dk', 'dv'] as const) {
        expect(got[name].every(Number.isFinite), `${name} is written and finite everywhere`).toBe(true);
      }
      const [atol, rtol] = c.qScale ? [1e-4, 1e-3] : [3e-5, 3e-4];
      expectClose(got.dq, ref.dq, atol, rtol, 'dq');
      expectClose(got.dk, ref.dk, atol, rtol, 'dk');
      expectClose(got.dv, ref.dv, atol, rtol, 'dv');
      for (let b = 0; b < B; b++) {
        let seenKey = false;
        for (let p = 0; p < T; p++) {
          seenKey ||= mask[b * T + p] !== 0;
          if (!mask[b * T + p]) {
            const at = (b * T + p) * KV * HS;
            const zeros = Array(KV * HS).fill(0);
            expect(Array.from(got.dk.subarray(at, at + KV * HS)), `dk of padding key b=${b} j=${p}`).toEqual(zeros);
            expect(Array.from(got.dv.subarray(at, at + KV * HS)), `dv of padding key b=${b} j=${p}`).toEqual(zeros);
          }
          if (!seenKey) {
            const at = (b * T + p) * NH * HS;
            expect(Array.from(got.dq.subarray(at, at + NH * HS)), `dq of fully-masked query b=${b} t=${p}`).toEqual(Array(NH * HS).fill(0));
          }
        }
      }
    });
  }
});

describe('attentionSubgroupSize', () => {
  it('takes the subgroup kernels only with the subgroup_id builtins and a head that fits the lanes', () => {
    const with4 = { ...ctx, features: { ...ctx.features, subgroups: true, subgroupId: true }, adapterInfo: { ...ctx.adapterInfo, subgroupMinSize: 4, subgroupMaxSize: 4 } };
    expect(attentionSubgroupSize(with4, 8)).toBe(4);
    expect(attentionSubgroupSize(with4, 4 * ATTENTION_MAX_DIMS_PER_LANE)).toBe(4);
    expect(attentionSubgroupSize(with4, 4 * ATTENTION_MAX_DIMS_PER_LANE + 1)).toBeNull();
    const with32 = { ...with4, adapterInfo: { ...with4.adapterInfo, subgroupMinSize: 32, subgroupMaxSize: 32 } };
    expect(attentionSubgroupSize(with32, 256)).toBe(32);
    // With 64 dimensions a lane and subgroups of at least 4, every head up to ATTENTION_MAX_HS fits.
    expect(attentionSubgroupSize(with4, ATTENTION_MAX_HS)).toBe(4);
    const unreported = { ...with4, adapterInfo: { ...with4.adapterInfo, subgroupMinSize: 0, subgroupMaxSize: 0 } };
    expect(attentionSubgroupSize(unreported, 64)).toBe(4);
    expect(attentionSubgroupSize({ ...with4, features: { ...with4.features, subgroupId: false } }, 8)).toBeNull();
  });
});

describe('the attention launchers', () => {
  const real = { ...ctx, adapterInfo: { ...ctx.adapterInfo, vendor: 'nvidia', architecture: 'hopper', device: '', description: '' } };

  it('take the subgroup kernels on real GPUs with the subgroup_id builtins, the per-row kernels on SwiftShader', () => {
    expect(preferSubgroupAttention(real)).toBe(ctx.features.subgroupId);
    expect(preferSubgroupAttention({ ...real, features: { ...real.features, subgroupId: false } })).toBe(false);
    expect(preferSubgroupAttention({ ...ctx, features: { ...ctx.features, subgroupId: true } })).toBe(!/swiftshader/i.test(JSON.stringify(ctx.adapterInfo)));
  });

  it.skipIf(!subgroupMinSize)('dispatch the kernels that the policy names (this device posing as a real GPU)', async () => {
    const [B, T, NH, KV] = [1, 3, 2, 1];
    const dispatched = async (c: typeof ctx, HS: number) => {
      const t = (n: number) => createTensor(c, [n], 'f32');
      const x = t(B * T * NH * HS);
      const m = createTensor(c, [B, T], 'u32', new Uint32Array(B * T).fill(1));
      enableProfiling(c);
      const rec = new Recorder(c);
      attentionForward(rec, x, t(B * NH * T), x, x, x, m, { B, T, S: T, NH, KV, HS, pos0: 0 });
      attentionBackward(rec, t(B * T * NH * HS), t(B * T * KV * HS), t(B * T * KV * HS), t(2 * B * NH * T), x, x, x, x, x, t(B * NH * T), m, { B, T, NH, KV, HS });
      rec.submit();
      disableProfiling(c);
      return [...(await takeProfile(c)).times.keys()].sort();
    };
    const subgroup = ['attention_backward_prep', 'attention_subgroup_backward_key', 'attention_subgroup_backward_query', 'attention_subgroup_forward'];
    const perRow = ['attention_backward_key', 'attention_backward_prep', 'attention_backward_query', 'attention_forward'];
    expect(await dispatched(real, 8)).toEqual(subgroup);
    expect(await dispatched({ ...real, features: { ...real.features, subgroupId: false } }, 8)).toEqual(perRow);
    expect(await dispatched(ctx, 8)).toEqual(preferSubgroupAttention(ctx) ? subgroup : perRow);
  });
});
