// The checks that attention.test.ts (attention_forward), attention-backward.test.ts
// (attention_backward_*) and attention-subgroup.test.ts (attention_subgroup_*) all make of an
// attention kernel's results against the CPU references in ../ref/attention.ts, so that the per-row
// and the subgroup kernels are held to the same tolerances and the same exact zeros:
// - expectForwardMatches: out and lse are finite everywhere; at every query that is a real token or
//   has no allowed key, each head's out is within 2e-5 + 1e-4·|ref| and its lse within
//   2e-5 + 1e-5·|ref| of the reference, and a query with no allowed key (left padding, or only
//   padding within its sliding window) gives exactly out = 0 and lse = -1e30; any other padding
//   query only has to be finite.
// - expectBackwardMatches: dq, dk and dv are finite everywhere and within 3e-5 + 3e-4·|ref| of the
//   reference (1e-4 + 1e-3·|ref| for cases with a qScale); every padding key gets exactly
//   dk = dv = 0, and every query with no allowed key (before its row's first real key, or with
//   only padding in its window) exactly dq = 0.
// The cases' dims may carry the sliding window, softcap and scale (AttentionOptions), which the
// references (../ref/attention.ts) and these checks honour.
// With `written`, the finiteness messages say "is written and finite everywhere" (for outputs that
// start as NaN). Also here: the fields the case tables share, the flat mask, the seeded q, k, v
// and NaN in the keys and values a kernel must never read, and the backward's tensors.
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { Recorder } from '../../src/gpu/kernel.js';
import { attentionBackward, attentionBackwardPrepKernel, attentionBackwardScratchShape, attentionForward, type AttentionDims } from '../../src/gpu/kernels/attention.js';
import { disableProfiling, enableProfiling, takeProfile } from '../../src/gpu/profile.js';
import { createTensor, readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { expectClose, randomArray } from '../helpers.js';
import { attendedKeys, attentionBackwardRef, attentionForwardRef, type AttentionRefOptions } from '../ref/attention.js';

/** The backward's dims: training, so S = T and pos0 = 0 are implied; with the forward's options. */
export interface BackwardDims extends AttentionRefOptions {
  B: number;
  T: number;
  NH: number;
  KV: number;
  HS: number;
}

export interface ForwardCase {
  name: string;
  dims: AttentionDims;
  /** [B, S] key mask; all ones when omitted. */
  mask?: number[][];
  /** Multiplies q, to push the scores far from 0 (softmax stability). */
  qScale?: number;
}

export interface BackwardCase {
  name: string;
  dims: BackwardDims;
  /** [B, T] key mask; all ones when omitted. */
  mask?: number[][];
  /** Multiplies q, to push the scores far from 0; also loosens the tolerances. */
  qScale?: number;
}

export interface CheckOptions {
  /** Word the finiteness messages "… is written and finite everywhere". */
  written?: boolean;
}

export const ones = (n: number) => Array<number>(n).fill(1);

/** A case's [B, S] mask flattened, all ones when the case gives none. */
export function flatMask(mask: number[][] | undefined, B: number, S: number): number[] {
  return (mask ?? Array.from({ length: B }, () => ones(S))).flat();
}

/**
 * Seeded q in [-1, 1) (times qScale), k in [-1, 1) and v in [-2, 2), for the forward's dims (the
 * backward passes S = T); `seeds` are the bases to which each tensor's own size term is added.
 */
export function randomQkv(
  dims: Pick<AttentionDims, 'B' | 'T' | 'S' | 'NH' | 'KV' | 'HS'>,
  seeds: [q: number, k: number, v: number],
  qScale = 1,
) {
  const { B, T, S, NH, KV, HS } = dims;
  const q = randomArray(B * T * NH * HS, seeds[0] + B * T * NH * HS, -1, 1).map((x) => x * qScale);
  const k = randomArray(B * S * KV * HS, seeds[1] + S * HS, -1, 1);
  const v = randomArray(B * S * KV * HS, seeds[2] + S * KV, -2, 2);
  return { q, k, v };
}

/**
 * NaN in k and v wherever a key must never be read: masked, not yet filled (j >= pos0 + T), or
 * before the sliding window of every query of the call (j < pos0 + 1 - window).
 */
export function poisonUnreadKeys(k: Float32Array, v: Float32Array, mask: number[], dims: AttentionDims): void {
  const { B, T, S, KV, HS, pos0 } = dims;
  const [firstRead] = attendedKeys(pos0, dims.window);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < S; j++) {
      if (mask[b * S + j] && j < pos0 + T && j >= firstRead) continue;
      const at = (b * S + j) * KV * HS;
      k.fill(NaN, at, at + KV * HS);
      v.fill(NaN, at, at + KV * HS);
    }
  }
}

/**
 * The backward's tensors: the inputs, the forward's saved out and lse (given, or empty for a
 * forward launch to fill), and dq, dk, dv filled with NaN, since the backward writes its outputs
 * rather than accumulating into them.
 */
export function backwardTensors(
  ctx: GpuContext,
  dims: BackwardDims,
  data: { q: Float32Array; k: Float32Array; v: Float32Array; mask: number[]; dout: Float32Array },
  saved?: { out: Float32Array; lse: Float32Array },
) {
  const { B, T, NH, KV, HS } = dims;
  const n = B * T * NH * HS;
  return {
    q: createTensor(ctx, [B, T, NH, HS], 'f32', data.q),
    k: createTensor(ctx, [B, T, KV, HS], 'f32', data.k),
    v: createTensor(ctx, [B, T, KV, HS], 'f32', data.v),
    mask: createTensor(ctx, [B, T], 'u32', data.mask),
    out: createTensor(ctx, [B, T, NH, HS], 'f32', saved?.out),
    lse: createTensor(ctx, [B, NH, T], 'f32', saved?.lse),
    dout: createTensor(ctx, [B, T, NH, HS], 'f32', data.dout),
    dq: createTensor(ctx, [B, T, NH, HS], 'f32', new Float32Array(n).fill(NaN)),
    dk: createTensor(ctx, [B, T, KV, HS], 'f32', new Float32Array(B * T * KV * HS).fill(NaN)),
    dv: createTensor(ctx, [B, T, KV, HS], 'f32', new Float32Array(B * T * KV * HS).fill(NaN)),
    scratch: createTensor(ctx, attentionBackwardScratchShape(dims), 'f32'),
  };
}

/** A forward's out [B, T, NH, HS] and lse [B, NH, T] against attentionForwardRef's (see the header). */
export function expectForwardMatches(
  got: { out: Float32Array; lse: Float32Array },
  ref: { out: Float32Array; lse: Float32Array },
  mask: number[],
  dims: AttentionDims,
  { written = false }: CheckOptions = {},
): void {
  const { B, T, S, NH, HS, pos0 } = dims;
  const finite = written ? 'is written and finite everywhere' : 'is finite everywhere';
  expect(got.out.every(Number.isFinite), `out ${finite}`).toBe(true);
  expect(got.lse.every(Number.isFinite), `lse ${finite}`).toBe(true);
  // Compare the query rows that are real tokens; padding queries only have to be finite, and a
  // query with no allowed key (left padding, or padding all over its window) must give out = 0
  // and lse = -1e30.
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = pos0 + t;
      const [first] = attendedKeys(p, dims.window);
      const anyKey = mask.slice(b * S + first, b * S + p + 1).some((m) => m !== 0);
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
}

/** A backward's dq, dk, dv against attentionBackwardRef's (see the header). */
export function expectBackwardMatches(
  got: { dq: Float32Array; dk: Float32Array; dv: Float32Array },
  ref: { dq: ArrayLike<number>; dk: ArrayLike<number>; dv: ArrayLike<number> },
  mask: number[],
  dims: BackwardDims,
  qScale: number | undefined,
  { written = false }: CheckOptions = {},
): void {
  const { B, T, NH, KV, HS } = dims;
  const finite = written ? 'is written and finite everywhere' : 'is finite everywhere';
  for (const name of ['dq', 'dk', 'dv'] as const) {
    expect(got[name].every(Number.isFinite), `${name} ${finite}`).toBe(true);
  }
  const [atol, rtol] = qScale ? [1e-4, 1e-3] : [3e-5, 3e-4];
  expectClose(got.dq, ref.dq, atol, rtol, 'dq');
  expectClose(got.dk, ref.dk, atol, rtol, 'dk');
  expectClose(got.dv, ref.dv, atol, rtol, 'dv');
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < T; p++) {
      const [first] = attendedKeys(p, dims.window);
      const anyKey = mask.slice(b * T + first, b * T + p + 1).some((m) => m !== 0);
      if (!mask[b * T + p]) {
        const at = (b * T + p) * KV * HS;
        const zeros = Array(KV * HS).fill(0);
        expect(Array.from(got.dk.subarray(at, at + KV * HS)), `dk of padding key b=${b} j=${p}`).toEqual(zeros);
        expect(Array.from(got.dv.subarray(at, at + KV * HS)), `dv of padding key b=${b} j=${p}`).toEqual(zeros);
      }
      if (!anyKey) {
        const at = (b * T + p) * NH * HS;
        expect(Array.from(got.dq.subarray(at, at + NH * HS)), `dq of fully-masked query b=${b} t=${p}`).toEqual(Array(NH * HS).fill(0));
      }
    }
  }
}

/** The tensors a forward attention kernel binds, in its binding order. */
export type ForwardBindings = [out: Tensor, lse: Tensor, q: Tensor, k: Tensor, v: Tensor, mask: Tensor];

/**
 * Runs one forward kernel variant (`launch` records it with the given bindings) on a case's
 * random inputs, outputs pre-filled with NaN and unread keys poisoned, and checks it against the
 * CPU reference (expectForwardMatches with `written`).
 */
export async function checkForwardKernel(ctx: GpuContext, c: ForwardCase, launch: (rec: Recorder, bindings: ForwardBindings) => void): Promise<void> {
  const { B, T, S, NH, KV, HS } = c.dims;
  const mask = flatMask(c.mask, B, S);
  const { q, k, v } = randomQkv(c.dims, [7, 31, 47], c.qScale);
  poisonUnreadKeys(k, v, mask, c.dims);
  const out = createTensor(ctx, [B, T, NH, HS], 'f32', new Float32Array(B * T * NH * HS).fill(NaN));
  const lse = createTensor(ctx, [B, NH, T], 'f32', new Float32Array(B * NH * T).fill(NaN));
  const rec = new Recorder(ctx);
  launch(rec, [
    out,
    lse,
    createTensor(ctx, [B, T, NH, HS], 'f32', q),
    createTensor(ctx, [B, S, KV, HS], 'f32', k),
    createTensor(ctx, [B, S, KV, HS], 'f32', v),
    createTensor(ctx, [B, S], 'u32', mask),
  ]);
  rec.submit();
  const got = { out: await readTensor(ctx, out), lse: await readTensor(ctx, lse) };
  expectForwardMatches(got, attentionForwardRef(q, k, v, mask, c.dims), mask, c.dims, { written: true });
}

/**
 * Runs attention_backward_prep and then one variant's query and key kernels (`launch` records
 * those two with the tensors of backwardTensors) on a case's random inputs, the forward's out and
 * lse taken from the CPU reference so that only the backward kernels are checked, and compares
 * dq, dk, dv with the CPU reference (expectBackwardMatches with `written`).
 */
export async function checkBackwardKernels(
  ctx: GpuContext,
  c: BackwardCase,
  launch: (rec: Recorder, t: ReturnType<typeof backwardTensors>) => void,
): Promise<void> {
  const { B, T, NH, HS } = c.dims;
  const mask = flatMask(c.mask, B, T);
  const n = B * T * NH * HS;
  const { q, k, v } = randomQkv({ ...c.dims, S: T }, [13, 23, 41], c.qScale);
  // dout is random at padding queries too: a query with no allowed key must still give dq = 0.
  const dout = randomArray(n, 67 + n, -1, 1);
  poisonUnreadKeys(k, v, mask, { ...c.dims, S: T, pos0: 0 });
  const fwd = attentionForwardRef(q, k, v, mask, { ...c.dims, S: T, pos0: 0 });
  const t = backwardTensors(ctx, c.dims, { q, k, v, mask, dout }, fwd);
  const rec = new Recorder(ctx);
  rec.run(attentionBackwardPrepKernel, c.dims, [t.scratch, t.dout, t.out, t.lse]);
  launch(rec, t);
  rec.submit();
  const got = { dq: await readTensor(ctx, t.dq), dk: await readTensor(ctx, t.dk), dv: await readTensor(ctx, t.dv) };
  expectBackwardMatches(got, attentionBackwardRef(dout, q, k, v, mask, c.dims), mask, c.dims, c.qScale, { written: true });
}

/**
 * The kernel names the attention launchers dispatch on `ctx` for one forward and one backward pass
 * (B 1, T 3, NH 2, KV 1, head size HS), with every launch valid (no validation error).
 */
export async function dispatchedAttentionKernels(ctx: GpuContext, HS: number): Promise<string[]> {
  const [B, T, NH, KV] = [1, 3, 2, 1];
  const t = (n: number, fill = 0.1) => createTensor(ctx, [n], 'f32', new Float32Array(n).fill(fill));
  const [q, k, v, dout] = [t(B * T * NH * HS), t(B * T * KV * HS), t(B * T * KV * HS), t(B * T * NH * HS)];
  const [out, lse] = [t(B * T * NH * HS, 0), t(B * NH * T, 0)];
  const m = createTensor(ctx, [B, T], 'u32', new Uint32Array(B * T).fill(1));
  ctx.device.pushErrorScope('validation');
  expect(enableProfiling(ctx)).toBeNull();
  const rec = new Recorder(ctx);
  attentionForward(rec, out, lse, q, k, v, m, { B, T, S: T, NH, KV, HS, pos0: 0 });
  const grads = [t(B * T * NH * HS, 0), t(B * T * KV * HS, 0), t(B * T * KV * HS, 0), t(2 * B * NH * T, 0)] as const;
  attentionBackward(rec, ...grads, dout, q, k, v, out, lse, m, { B, T, NH, KV, HS });
  rec.submit();
  disableProfiling(ctx);
  expect(await ctx.device.popErrorScope(), 'the launches are valid').toBeNull();
  return [...(await takeProfile(ctx)).times.keys()].sort();
}
