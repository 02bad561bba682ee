// The split weight gradient (matmul_tile16x128_weight_grad + matmul_split_reduce) against the CPU
// f64 reference: the thin shapes of LoRA's dA (N = R = 16, K = 200) and dB (N = 72, K = R = 8),
// with row counts that leave the last chunk short (M = 300 in 3 chunks of 112, 112, 76 rows;
// M = 130 in 80 + 50), in both tile orientations (the launcher picks one, rec.run forces the
// other), overwriting and accumulating, scale ≠ 1, a partials buffer larger than needed (whose
// tail must stay untouched), more chunks than rows need (the empty ones add zeros) and M = 0.
// Two runs must give the same bits. The launcher's checks, and weightGradSplits's choice under the
// tiled (GPU) policy. Barriers are slow on SwiftShader: the shapes stay small.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { Recorder } from '../../src/gpu/kernel.js';
import {
  matmulWeightGradSplit,
  matmulWeightGradSplitKernel,
  splitPartialsElements,
  splitRowsPerChunk,
  weightGradSplitGrid,
  weightGradSplitKThin,
  weightGradSplitLaunch,
  weightGradSplits,
} from '../../src/gpu/kernels/matmul/weight-grad-split.js';
import { reducePartials } from '../../src/gpu/kernels/matmul/split-reduce.js';
import { createTensor, readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { tiledKernels, expectClose, gpu, randomArray } from '../helpers.js';
import { matmulWeightGradRef } from '../ref/matmul-backward.js';

const SENTINEL = 12345;
const PAD = 20; // elements past an output, which must stay untouched

/** The same device, presented as an NVIDIA GPU (as in test/train/gpu-policy.test.ts). */

/** A tensor holding `init` (or zeros) then `pad` sentinels. */
function padded(ctx: GpuContext, n: number, pad: number, init?: Float32Array): Tensor<'f32'> {
  const data = new Float32Array(n + pad).fill(SENTINEL);
  data.set(init ?? new Float32Array(n));
  return createTensor(ctx, [n + pad], 'f32', data);
}

async function readPadded(ctx: GpuContext, t: Tensor<'f32'>, n: number, what: string): Promise<Float32Array> {
  const got = await readTensor(ctx, t);
  expect(Array.from(got.subarray(n)).every((v) => v === SENTINEL), `${what}: elements past it untouched`).toBe(true);
  return got.subarray(0, n);
}

interface Case {
  shape: [number, number, number]; // M, N, K
  splits: number;
  scale: number;
  accumulate: boolean;
  /** Force the tile orientation (through rec.run); undefined: the launcher's choice. */
  kThin?: boolean;
  /** Extra partials elements past S·N·K. */
  extra?: number;
}

const CASES: Case[] = [
  { shape: [300, 16, 200], splits: 3, scale: 1, accumulate: false }, // dA, chunks 112 + 112 + 76
  { shape: [300, 16, 200], splits: 3, scale: -0.75, accumulate: true, extra: 37 },
  { shape: [300, 16, 200], splits: 3, scale: 0.5, accumulate: true, kThin: true },
  { shape: [130, 72, 8], splits: 2, scale: 2, accumulate: false }, // dB, chunks 80 + 50
  { shape: [130, 72, 8], splits: 2, scale: 1, accumulate: true, extra: 5 },
  { shape: [130, 72, 8], splits: 2, scale: -1.5, accumulate: false, kThin: false },
  { shape: [40, 19, 131], splits: 5, scale: 1, accumulate: true }, // chunks 16, 16, 8, then two empty
  { shape: [0, 5, 7], splits: 2, scale: 3, accumulate: true },
  { shape: [0, 5, 7], splits: 1, scale: 3, accumulate: false },
];

/** Runs one case; returns the result and the reference. */
async function runCase(ctx: GpuContext, c: Case) {
  const [M, N, K] = c.shape;
  const dy = randomArray(M * N, 3 + M * N, -1, 1);
  const x = randomArray(M * K, 11 + M * K, -1, 1);
  const init = randomArray(N * K, 7 + N * K, -2, 2);
  const dweight = padded(ctx, N * K, PAD, init);
  const partialsSize = splitPartialsElements({ N, K }, c.splits) + (c.extra ?? 0);
  const partials = padded(ctx, partialsSize - (c.extra ?? 0), c.extra ?? 0, new Float32Array(partialsSize - (c.extra ?? 0)).fill(-7));
  const dout = createTensor(ctx, [M, N], 'f32', dy);
  const inp = createTensor(ctx, [M, K], 'f32', x);
  const dims = { M, N, K, scale: c.scale, accumulate: c.accumulate, splits: c.splits };
  const rec = new Recorder(ctx);
  if (c.kThin === undefined) {
    matmulWeightGradSplit(rec, dweight, dout, inp, partials, dims);
  } else {
    const d = weightGradSplitLaunch(dims, c.kThin);
    rec.run(matmulWeightGradSplitKernel, d, [partials, dout, inp]);
    reducePartials(rec, dweight, partials, { count: d.N * d.K, splits: d.splits, scale: d.scale, accumulate: d.accumulate });
  }
  rec.submit();
  const got = await readPadded(ctx, dweight, N * K, 'dweight');
  if (c.extra) await readPadded(ctx, partials, partialsSize - c.extra, 'partials');
  for (const t of [dweight, partials, dout, inp]) t.destroy();
  return { got, want: matmulWeightGradRef(dy, x, M, N, K, c.scale, c.accumulate ? init : null) };
}

describe('matmul_tile16x128_weight_grad + matmul_split_reduce', () => {
  for (const c of CASES) {
    const [M, N, K] = c.shape;
    const orientation = c.kThin === undefined ? `launcher (${weightGradSplitKThin(N, K) ? 'thin along k' : 'thin along n'})` : `forced thin along ${c.kThin ? 'k' : 'n'}`;
    it(`matches the CPU reference at M=${M} N=${N} K=${K} S=${c.splits} scale=${c.scale}${c.accumulate ? ' accumulating' : ''}${c.extra ? ', larger partials' : ''}, ${orientation}`, async () => {
      const ctx = await gpu();
      const { got, want } = await runCase(ctx, c);
      const largest = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expectClose(got, want, 1e-5 * largest, 1e-5, 'dweight');
    });
  }

  it('gives the same bits on every run', async () => {
    const ctx = await gpu();
    const c: Case = { shape: [300, 16, 200], splits: 3, scale: 0.25, accumulate: true };
    const first = await runCase(ctx, c);
    const second = await runCase(ctx, c);
    expect(new Uint32Array(second.got.slice().buffer)).toEqual(new Uint32Array(first.got.slice().buffer));
  });

  it('chooses the orientation with fewer tiles and chunks that are multiples of 16 rows', () => {
    expect([weightGradSplitKThin(16, 200), weightGradSplitKThin(72, 8), weightGradSplitKThin(64, 64)]).toEqual([false, true, false]);
    expect([splitRowsPerChunk(300, 3), splitRowsPerChunk(130, 2), splitRowsPerChunk(0, 2), splitRowsPerChunk(2048, 32)]).toEqual([112, 80, 16, 64]);
    expect(weightGradSplitGrid(weightGradSplitLaunch({ M: 300, N: 16, K: 200, splits: 3 }))).toEqual([2, 1, 3]);
    expect(weightGradSplitGrid(weightGradSplitLaunch({ M: 130, N: 72, K: 8, splits: 2 }))).toEqual([1, 1, 2]);
    expect(() => weightGradSplitGrid(weightGradSplitLaunch({ M: 1, N: 1, K: 16 * 65536, splits: 1 }, true))).toThrow(
      /matmul_weight_grad_split: grid \(65536, 1, 1\) exceeds 65535 workgroups per dimension \(M=1 N=1 K=1048576 S=1\)/,
    );
    expect(() => weightGradSplitGrid(weightGradSplitLaunch({ M: 1, N: 1, K: 1, splits: 70000 }))).toThrow(/exceeds 65535/);
    expect(splitPartialsElements({ N: 16, K: 576 }, 32)).toBe(32 * 16 * 576);
  });

  it('rejects bad splits, small or aliased tensors, and f16 operands, naming the kernel, operand and dims', async () => {
    const ctx = await gpu();
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    const [M, N, K, S] = [4, 2, 3, 2];
    const dims = { M, N, K, splits: S };
    const [dw, dy, x, p] = [t(N * K), t(M * N), t(M * K), t(S * N * K)];
    const rec = new Recorder(ctx);
    expect(() => matmulWeightGradSplit(rec, dw, dy, x, t(S * N * K - 1), dims)).toThrow(
      /matmul_weight_grad_split: partials has 11 elements, needs 12 \(M=4 N=2 K=3 S=2\)/,
    );
    expect(() => matmulWeightGradSplit(rec, dw, dy, x, p, { ...dims, splits: 0 })).toThrow(/matmul_weight_grad_split: splits = 0 must be a positive integer \(M=4 N=2 K=3 S=0\)/);
    expect(() => matmulWeightGradSplit(rec, dw, dy, x, p, { ...dims, splits: 1.5 })).toThrow(/splits = 1.5 must be a positive integer/);
    expect(() => matmulWeightGradSplit(rec, dw, dy, x, p, { ...dims, splits: -1 })).toThrow(/splits = -1 must be a positive integer/);
    expect(() => matmulWeightGradSplit(rec, t(5), dy, x, p, dims)).toThrow(/matmul_weight_grad_split: dweight has 5 elements, needs 6/);
    expect(() => matmulWeightGradSplit(rec, dw, t(7), x, p, dims)).toThrow(/dout has 7 elements, needs 8/);
    expect(() => matmulWeightGradSplit(rec, dw, dy, t(11), p, dims)).toThrow(/inp has 11 elements, needs 12/);
    const big = t(N * K + S * N * K);
    expect(() => matmulWeightGradSplit(rec, big, dy, x, big, dims)).toThrow(/matmul_weight_grad_split: partials shares its buffer with dweight.*\(M=4 N=2 K=3 S=2\)/);
    expect(() => matmulWeightGradSplit(rec, big.view(0, [N * K]), dy, x, big.view(N * K, [S * N * K]), dims)).toThrow(/partials shares its buffer with dweight/);
    expect(() => matmulWeightGradSplit(rec, dw, dy, x, dy, { M: 4, N: 2, K: 1, splits: 1 })).toThrow(/partials shares its buffer with dout/);
    const f16 = createTensor(ctx, [S * N * K], 'f16');
    expect(() => matmulWeightGradSplit(rec, dw, dy, x, f16, dims)).toThrow(/matmul_weight_grad_split: partials must be f32, not f16/);
    rec.submit();
  });
});

describe('weightGradSplits', () => {
  const plenty = 1 << 24;

  it('splits the thin LoRA gradients on a GPU, within the scratch and with chunks of at least 64 rows', async () => {
    const nvidia = tiledKernels(await gpu());
    const dA = weightGradSplits(nvidia.policy, { M: 2048, N: 16, K: 576 }, plenty);
    expect(dA).toBeGreaterThan(1);
    expect(splitRowsPerChunk(2048, dA)).toBeGreaterThanOrEqual(64);
    expect(Math.ceil(2048 / splitRowsPerChunk(2048, dA))).toBe(dA); // no empty chunk
    const dB = weightGradSplits(nvidia.policy, { M: 2048, N: 576, K: 16 }, plenty);
    expect(dB).toBe(dA);
    expect(weightGradSplits(nvidia.policy, { M: 512, N: 8, K: 4864 }, plenty)).toBeGreaterThan(1);
    // The scratch bounds S·N·K; room for fewer than 2 splits means no split.
    const capped = weightGradSplits(nvidia.policy, { M: 2048, N: 16, K: 576 }, 5 * 16 * 576 + 100);
    expect(capped).toBeGreaterThan(1);
    expect(splitPartialsElements({ N: 16, K: 576 }, capped)).toBeLessThanOrEqual(5 * 16 * 576 + 100);
    expect(weightGradSplits(nvidia.policy, { M: 2048, N: 16, K: 576 }, 2 * 16 * 576 - 1)).toBe(1);
  });

  it('does not split big outputs, few rows, or on a CPU driver', async () => {
    const ctx = await gpu();
    const nvidia = tiledKernels(ctx);
    expect(weightGradSplits(nvidia.policy, { M: 2048, N: 1024, K: 1024 }, plenty)).toBe(1);
    expect(weightGradSplits(nvidia.policy, { M: 128, N: 16, K: 576 }, plenty)).toBe(1);
    expect(weightGradSplits(nvidia.policy, { M: 2048, N: 0, K: 576 }, plenty)).toBe(1);
    expect(weightGradSplits(ctx.policy, { M: 2048, N: 16, K: 576 }, plenty)).toBe(1); // SwiftShader: barrier-free kernels
  });

  it("runs the policy's split of a SmolLM2 dA shape (M=512, R=16, K=576) correctly", async () => {
    const ctx = await gpu();
    const [M, N, K] = [512, 16, 576];
    const splits = weightGradSplits(tiledKernels(ctx).policy, { M, N, K }, plenty);
    expect(splits).toBe(8);
    const { got, want } = await runCase(ctx, { shape: [M, N, K], splits, scale: 2, accumulate: true });
    const largest = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(got, want, 1e-5 * largest, 1e-5, 'dweight');
  });
});
