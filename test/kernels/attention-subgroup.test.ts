// The subgroup attention kernels (attention_subgroup_*.wgsl: one subgroup per row, lanes splitting
// the head dimension), each named explicitly rather than left to the launcher's per-device choice
// (selectAttention, from the device's policy: src/gpu/policy.ts), against the CPU references, at head sizes that are and are not multiples of
// the subgroup size up to 256 (ATTENTION_MAX_HS), GQA ratios 1, 2 and 3, padding on either side and the forward's KV-cache
// offsets. The checks and tolerances are those of attention.test.ts and attention-backward.test.ts,
// shared through attention-checks.ts.
import { describe, expect, it } from 'vitest';
import {
  ATTENTION_MAX_DIMS_PER_LANE,
  ATTENTION_MAX_HS,
  attentionSubgroupBackwardKeyKernel,
  attentionSubgroupBackwardQueryKernel,
  attentionSubgroupForwardKernel,
  attentionSubgroupSize,
  selectAttention,
} from '../../src/gpu/kernels/attention.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { devicePolicy } from '../../src/gpu/policy.js';
import { gpu, tiledKernels, withPolicy } from '../helpers.js';
import { checkBackwardKernels, checkForwardKernel, dispatchedAttentionKernels, type BackwardCase, type ForwardCase } from './attention-checks.js';

const ctx = await gpu();
const subgroupMinSize = attentionSubgroupSize(ctx.policy, 8);
const NO_SUBGROUPS =
  `the device (${ctx.adapterInfo.description || ctx.adapterInfo.vendor}) lacks subgroups or the WGSL subgroup_id ` +
  'builtins, so the subgroup attention kernels cannot run here';
if (!subgroupMinSize) console.warn(`attention-subgroup.test.ts skipped: ${NO_SUBGROUPS}`);

const forwardCases: ForwardCase[] = [
  { name: 'T=1 S=1, HS=8', dims: { B: 1, T: 1, S: 1, NH: 1, KV: 1, HS: 8, pos0: 0 } },
  { name: 'T=7, GQA ratio 1, HS=12, 42 rows', dims: { B: 3, T: 7, S: 7, NH: 2, KV: 2, HS: 12, pos0: 0 } },
  { name: 'GQA ratio 2, HS=10, B=2', dims: { B: 2, T: 5, S: 5, NH: 4, KV: 2, HS: 10, pos0: 0 } },
  { name: 'GQA ratio 3, HS=6, 84 rows over several workgroups', dims: { B: 2, T: 7, S: 7, NH: 6, KV: 2, HS: 6, pos0: 0 } },
  { name: 'HS=64, GQA ratio 3', dims: { B: 1, T: 5, S: 5, NH: 3, KV: 1, HS: 64, pos0: 0 } },
  ...[80, 96, 192, 255, 256].map((HS) => ({ name: `HS=${HS}, up to ATTENTION_MAX_HS`, dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS, pos0: 0 } })),
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
    it(`matches the CPU reference: ${c.name}`, () =>
      checkForwardKernel(ctx, c, (rec, bindings) => rec.run(attentionSubgroupForwardKernel, { ...c.dims, subgroupMinSize: subgroupMinSize! }, bindings)));
  }
});

const backwardCases: BackwardCase[] = [
  { name: 'T=1, HS=8', dims: { B: 1, T: 1, NH: 1, KV: 1, HS: 8 } },
  { name: 'T=7, GQA ratio 1, HS=12, B=3', dims: { B: 3, T: 7, NH: 2, KV: 2, HS: 12 } },
  { name: 'GQA ratio 2, HS=10', dims: { B: 2, T: 5, NH: 4, KV: 2, HS: 10 } },
  { name: 'GQA ratio 3, HS=6, 84 query rows', dims: { B: 2, T: 7, NH: 6, KV: 2, HS: 6 } },
  { name: 'HS=64, GQA ratio 3', dims: { B: 1, T: 5, NH: 3, KV: 1, HS: 64 } },
  ...[80, 96, 192, 255, 256].map((HS) => ({ name: `HS=${HS}, up to ATTENTION_MAX_HS`, dims: { B: 1, T: 3, NH: 2, KV: 1, HS } })),
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
    it(`match the CPU reference: ${c.name}`, () =>
      checkBackwardKernels(ctx, c, (rec, t) => {
        const dims = { ...c.dims, subgroupMinSize: subgroupMinSize! };
        rec.run(attentionSubgroupBackwardQueryKernel, dims, [t.dq, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
        rec.run(attentionSubgroupBackwardKeyKernel, dims, [t.dk, t.dv, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
      }));
  }
});

describe('attentionSubgroupSize', () => {
  it('takes the subgroup kernels only with the subgroup_id builtins and a head that fits the lanes', () => {
    // The policy of a device with subgroups of at least `subgroupMinSize` (0: not reported), with or without subgroup_id.
    const policy = (subgroupMinSize: number, subgroupId = true) =>
      devicePolicy({ adapterInfo: { ...ctx.adapterInfo, subgroupMinSize }, features: { subgroupId }, limits: ctx.limits });
    expect(attentionSubgroupSize(policy(4), 8)).toBe(4);
    expect(attentionSubgroupSize(policy(4), 4 * ATTENTION_MAX_DIMS_PER_LANE)).toBe(4);
    expect(attentionSubgroupSize(policy(4), 4 * ATTENTION_MAX_DIMS_PER_LANE + 1)).toBeNull();
    expect(attentionSubgroupSize(policy(32), 256)).toBe(32);
    // With 64 dimensions a lane and subgroups of at least 4, every head up to ATTENTION_MAX_HS fits.
    expect(attentionSubgroupSize(policy(4), ATTENTION_MAX_HS)).toBe(4);
    expect(attentionSubgroupSize(policy(0), 64)).toBe(4);
    expect(attentionSubgroupSize(policy(4, false), 8)).toBeNull();
  });
});

describe('the attention launchers', () => {
  const real = tiledKernels(ctx);
  const takesSubgroups = (c: GpuContext) => selectAttention(c.policy, 8).kernel.forward === attentionSubgroupForwardKernel;

  it('take the subgroup kernels on real GPUs with the subgroup_id builtins, the per-row kernels on SwiftShader', () => {
    expect(takesSubgroups(real)).toBe(ctx.features.subgroupId);
    expect(takesSubgroups(withPolicy(real, { subgroupSize: 0 }))).toBe(false);
    expect(takesSubgroups(withPolicy(ctx, { subgroupSize: 4 }))).toBe(!/swiftshader/i.test(JSON.stringify(ctx.adapterInfo)));
  });

  it.skipIf(!subgroupMinSize)('dispatch the kernels that the policy names (this device with the tiled policy)', async () => {
    const dispatched = dispatchedAttentionKernels;
    const subgroup = ['attention_backward_prep', 'attention_subgroup_backward_key', 'attention_subgroup_backward_query', 'attention_subgroup_forward'];
    // HS = 8 is a multiple of 4: the per-row launches take the vec4 kernels (attention-vec4.test.ts).
    const perRow = ['attention_backward_prep', 'attention_vec4_backward_key', 'attention_vec4_backward_query', 'attention_vec4_forward'];
    expect(await dispatched(real, 8)).toEqual(subgroup);
    expect(await dispatched(withPolicy(real, { subgroupSize: 0 }), 8)).toEqual(perRow);
    expect(await dispatched(ctx, 8)).toEqual(takesSubgroups(ctx) ? subgroup : perRow);
  });
});
