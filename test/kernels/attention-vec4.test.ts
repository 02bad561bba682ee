// The vec4 attention kernels (attention_vec4_*.wgsl: the per-row kernels reading four dimensions at
// a time, for head sizes that are a multiple of 4 up to ATTENTION_VEC4_MAX_HS), each named
// explicitly rather than left to the launcher, against the CPU references at T = 1, GQA ratios 1, 2
// and 3, head sizes 4 to 128, padding on either side and the forward's KV-cache offsets; with the
// checks and tolerances of the other attention tests (attention-checks.ts). Also: which per-row
// kernels the launchers take for which head sizes.
import { describe, expect, it } from 'vitest';
import {
  ATTENTION_VEC4_MAX_HS,
  attentionVec4,
  attentionVec4BackwardKeyKernel,
  attentionVec4BackwardQueryKernel,
  attentionVec4ForwardKernel,
  attentionSubgroupForwardKernel,
  selectAttention,
} from '../../src/gpu/kernels/attention.js';
import { gpu } from '../helpers.js';
import { checkBackwardKernels, checkForwardKernel, dispatchedAttentionKernels, type BackwardCase, type ForwardCase } from './attention-checks.js';

const ctx = await gpu();

const forwardCases: ForwardCase[] = [
  { name: 'T=1 S=1, HS=4', dims: { B: 1, T: 1, S: 1, NH: 1, KV: 1, HS: 4, pos0: 0 } },
  { name: 'T=7, GQA ratio 1, HS=12, 42 rows', dims: { B: 3, T: 7, S: 7, NH: 2, KV: 2, HS: 12, pos0: 0 } },
  { name: 'GQA ratio 2, HS=8, B=2', dims: { B: 2, T: 5, S: 5, NH: 4, KV: 2, HS: 8, pos0: 0 } },
  { name: 'GQA ratio 3, HS=4, 84 rows over two workgroups', dims: { B: 2, T: 7, S: 7, NH: 6, KV: 2, HS: 4, pos0: 0 } },
  { name: 'HS=64, GQA ratio 3', dims: { B: 1, T: 5, S: 5, NH: 3, KV: 1, HS: 64, pos0: 0 } },
  { name: 'HS=80', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: 80, pos0: 0 } },
  { name: 'HS=96, GQA ratio 2', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: 96, pos0: 0 } },
  { name: 'largest head size HS=128', dims: { B: 1, T: 3, S: 3, NH: 2, KV: 1, HS: ATTENTION_VEC4_MAX_HS, pos0: 0 } },
  { name: 'decode T=1 at pos0=6, S=9', dims: { B: 2, T: 1, S: 9, NH: 4, KV: 2, HS: 12, pos0: 6 } },
  { name: 'chunked prefill T=3 at pos0=4, S=8, GQA ratio 3', dims: { B: 1, T: 3, S: 8, NH: 3, KV: 1, HS: 8, pos0: 4 } },
  { name: 'large scores (|score| ~ 100s)', dims: { B: 1, T: 5, S: 5, NH: 2, KV: 1, HS: 16, pos0: 0 }, qScale: 60 },
  {
    name: 'left- and right-padded rows, HS=8',
    dims: { B: 2, T: 7, S: 7, NH: 4, KV: 2, HS: 8, pos0: 0 },
    mask: [[1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]],
  },
  {
    name: 'left-padded chunk at pos0=2, S=9, HS=12',
    dims: { B: 1, T: 4, S: 9, NH: 3, KV: 1, HS: 12, pos0: 2 },
    mask: [[0, 0, 0, 0, 1, 1, 1, 1, 1]],
  },
];

describe('attention_vec4_forward', () => {
  for (const c of forwardCases) {
    it(`matches the CPU reference: ${c.name}`, () =>
      checkForwardKernel(ctx, c, (rec, bindings) => rec.run(attentionVec4ForwardKernel, c.dims, bindings)));
  }
});

const backwardCases: BackwardCase[] = [
  { name: 'T=1, HS=4', dims: { B: 1, T: 1, NH: 1, KV: 1, HS: 4 } },
  { name: 'T=7, GQA ratio 1, HS=12, B=3', dims: { B: 3, T: 7, NH: 2, KV: 2, HS: 12 } },
  { name: 'GQA ratio 2, HS=8', dims: { B: 2, T: 5, NH: 4, KV: 2, HS: 8 } },
  { name: 'GQA ratio 3, HS=4, 84 query rows', dims: { B: 2, T: 7, NH: 6, KV: 2, HS: 4 } },
  { name: 'HS=64, GQA ratio 3', dims: { B: 1, T: 5, NH: 3, KV: 1, HS: 64 } },
  { name: 'HS=80', dims: { B: 1, T: 3, NH: 2, KV: 1, HS: 80 } },
  { name: 'HS=96', dims: { B: 1, T: 3, NH: 2, KV: 1, HS: 96 } },
  { name: 'largest head size HS=128', dims: { B: 1, T: 3, NH: 2, KV: 1, HS: ATTENTION_VEC4_MAX_HS } },
  { name: 'large scores (|score| ~ 10s)', dims: { B: 1, T: 5, NH: 2, KV: 1, HS: 16 }, qScale: 8 },
  {
    name: 'a right-padded and a left-padded row, GQA ratio 2, HS=8',
    dims: { B: 2, T: 7, NH: 4, KV: 2, HS: 8 },
    mask: [
      [1, 1, 1, 1, 1, 0, 0],
      [0, 0, 1, 1, 1, 1, 1],
    ],
  },
  { name: 'left-padded row, GQA ratio 3, HS=12', dims: { B: 1, T: 6, NH: 3, KV: 1, HS: 12 }, mask: [[0, 0, 0, 1, 1, 1]] },
];

describe('attention_vec4_backward_query and _key', () => {
  for (const c of backwardCases) {
    it(`match the CPU reference: ${c.name}`, () =>
      checkBackwardKernels(ctx, c, (rec, t) => {
        const dims = c.dims;
        rec.run(attentionVec4BackwardQueryKernel, dims, [t.dq, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
        rec.run(attentionVec4BackwardKeyKernel, dims, [t.dk, t.dv, t.dout, t.q, t.k, t.v, t.scratch, t.mask]);
      }));
  }
});

describe('the per-row attention launchers', () => {
  it('take the vec4 kernels for head sizes that are a multiple of 4 up to ATTENTION_VEC4_MAX_HS', () => {
    expect([4, 8, 12, 64, 128].every(attentionVec4)).toBe(true);
    expect([1, 3, 5, 6, 10, 130, 132, 256].some(attentionVec4)).toBe(false);
  });

  it.skipIf(selectAttention(ctx.policy, 8).kernel.forward === attentionSubgroupForwardKernel)('dispatch the vec4 kernels for HS % 4 == 0 and the scalar ones otherwise (per-row device)', async () => {
    const dispatched = (HS: number) => dispatchedAttentionKernels(ctx, HS);
    const vec4 = ['attention_backward_prep', 'attention_vec4_backward_key', 'attention_vec4_backward_query', 'attention_vec4_forward'];
    const scalar = ['attention_backward_key', 'attention_backward_prep', 'attention_backward_query', 'attention_forward'];
    expect(await dispatched(8)).toEqual(vec4);
    expect(await dispatched(64)).toEqual(vec4);
    expect(await dispatched(6)).toEqual(scalar);
    expect(await dispatched(256)).toEqual(scalar);
  });
});
