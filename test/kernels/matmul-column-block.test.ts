// The matmul launchers with the [M, N] operand as a column block of a wider row-major matrix
// (MatmulParams.ld, col0; src/gpu/kernels/matmul/params.ts): a split LM head's part writes its
// columns of the whole logits (matmulForward's out) and reads its columns of their gradient
// (matmulBackward's dout). On both kernel paths (test/helpers.ts barrierFreeKernels, tiledKernels),
// reaching every forward and input-gradient kernel (checked with the select functions), at awkward
// shapes: N, ld and col0 odd or not multiples of 4 where the kernel allows it, M and N not multiples
// of the tiles, f16 weights; against the CPU references with the other matmul tests' tolerances.
// Forward: the buffer ends right after the block's last element ((M − 1)·ld + col0 + N), then
// sentinels; every element outside the block keeps its sentinel. Backward: everything outside the
// block is NaN, so any read of it shows in dinp. Then a whole product written block by block gives
// the unsplit launch's bits (forward), or its sum within tolerance (backward, accumulating), and
// the launchers' checks. Barriers are slow on SwiftShader: the shapes stay small.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { roundToF16 } from '../../src/gpu/f16.js';
import { Recorder } from '../../src/gpu/kernel.js';
import { matmulBackward } from '../../src/gpu/kernels/matmul/backward.js';
import { matmulForward } from '../../src/gpu/kernels/matmul/forward.js';
import { checkColumnBlock, columnBlockSize, columnBlockVec4 } from '../../src/gpu/kernels/matmul/params.js';
import { backwardSplits, selectMatmulForward, selectMatmulInputGrad } from '../../src/gpu/kernels/matmul/select.js';
import { matmulTile128Backward, matmulTile128Forward } from '../../src/gpu/kernels/matmul/tile128.js';
import { FEW_ROWS, TILE128_MIN_SIDE } from '../../src/gpu/kernels/matmul/tiles.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { barrierFreeKernels, expectClose, gpu, randomArray, tiledKernels } from '../helpers.js';
import { matmulBackwardRef } from '../ref/matmul-backward.js';
import { matmulForwardRef } from '../ref/matmul.js';
import { readSentinelOutput, SENTINEL, sentinelOutput } from './sentinel-output.js';

const PAD = 16; // sentinels past the wider matrix's last element
const rounded = (w: Float32Array) => Float32Array.from(w, roundToF16);
type Path = 'barrier-free' | 'tiled';
const onPath = async (path: Path): Promise<GpuContext> => (path === 'tiled' ? tiledKernels(await gpu()) : barrierFreeKernels(await gpu()));

/** Whether element i of a row-major matrix of row stride ld lies in the column block col0 .. col0 + N − 1. */
const inBlock = (i: number, ld: number, col0: number, N: number) => i % ld >= col0 && i % ld < col0 + N;

/** The [M, N] column block at (ld, col0) of `wide`. */
function blockOf(wide: ArrayLike<number>, M: number, N: number, ld: number, col0: number): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) out[m * N + n] = wide[m * ld + col0 + n];
  return out;
}

/** Column blocks of n columns: [first column, width] each (a vocabulary split). */
function blocks(n: number, widths: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let c = 0;
  for (const w of widths) {
    out.push([c, w]);
    c += w;
  }
  expect(c, 'the blocks cover the columns').toBe(n);
  return out;
}

interface BlockCase {
  path: Path;
  M: number;
  N: number;
  K: number;
  ld: number;
  col0: number;
  kernel: string;
  bias?: boolean;
  f16?: boolean;
}

describe('matmulForward into a column block', () => {
  const CASES: BlockCase[] = [
    { path: 'barrier-free', M: 7, N: 13, K: 20, ld: 29, col0: 5, bias: true, kernel: 'matmul_reg4x4_forward' },
    { path: 'barrier-free', M: 9, N: 10, K: 36, ld: 17, col0: 3, f16: true, kernel: 'matmul_reg4x4_forward' },
    { path: 'barrier-free', M: 6, N: 11, K: 7, ld: 20, col0: 9, bias: true, kernel: 'matmul_reg4x4_scalar_forward' },
    { path: 'barrier-free', M: 5, N: 9, K: 5, ld: 12, col0: 2, f16: true, kernel: 'matmul_reg4x4_scalar_forward' },
    { path: 'tiled', M: FEW_ROWS - 3, N: 13, K: 9, ld: 30, col0: 17, bias: true, kernel: 'matmul_reg4x4_scalar_forward' },
    { path: 'tiled', M: 70, N: 67, K: 33, ld: 150, col0: 70, bias: true, kernel: 'matmul_tile64_forward' },
    { path: 'tiled', M: 20, N: 30, K: 12, ld: 31, col0: 1, f16: true, kernel: 'matmul_tile64_forward' },
    { path: 'tiled', M: TILE128_MIN_SIDE, N: TILE128_MIN_SIDE, K: 4, ld: TILE128_MIN_SIDE + 7, col0: 5, bias: true, kernel: 'matmul_tile128_forward' },
    { path: 'tiled', M: TILE128_MIN_SIDE, N: TILE128_MIN_SIDE + 3, K: 8, ld: TILE128_MIN_SIDE + 12, col0: 8, f16: true, kernel: 'matmul_tile128_forward' },
  ];
  for (const { path, M, N, K, ld, col0, kernel, bias: withBias, f16 } of CASES) {
    it(`${kernel} (${path}) writes columns ${col0} .. ${col0 + N - 1} of rows of ${ld} at M=${M} K=${K}${withBias ? ' with bias' : ''}${f16 ? ', f16 weight' : ''}, nothing else`, async () => {
      const ctx = await onPath(path);
      expect(selectMatmulForward(ctx.policy, { M, N, K }).kernel).toBe(kernel);
      const seed = M * 7 + N * 3 + K + ld;
      const x = randomArray(M * K, seed + 1, -1, 1);
      const w = randomArray(N * K, seed + 2, -1, 1);
      const b = withBias ? randomArray(N, seed + 3, -1, 1) : null;
      // The buffer ends right after the block's last element: (M − 1)·ld + col0 + N, then PAD sentinels.
      const size = columnBlockSize(M, N, { ld, col0 });
      expect(size).toBe((M - 1) * ld + col0 + N);
      const out = sentinelOutput(ctx, size, new Float32Array(size).fill(SENTINEL), PAD);
      const weight = createTensor(ctx, [N, K], f16 ? 'f16' : 'f32', w);
      const rec = new Recorder(ctx);
      matmulForward(rec, out, createTensor(ctx, [M, K], 'f32', x), weight, b && createTensor(ctx, [N], 'f32', b), { M, N, K, ld, col0 });
      rec.submit();
      const got = await readSentinelOutput(ctx, out, size);
      expectClose(blockOf(got, M, N, ld, col0), matmulForwardRef(x, f16 ? rounded(w) : w, b, M, N, K), 2e-6 * K + 1e-6, 1e-4, 'block');
      const touched = Array.from(got.keys()).filter((i) => !inBlock(i, ld, col0, N) && got[i] !== SENTINEL);
      expect(touched.slice(0, 10), 'elements outside the block written').toEqual([]);
    });
  }
});

describe('matmulForward split into column blocks', () => {
  // [path, M, N, K, block widths, f16]: a vocabulary split (64, 64 and the rest) and one whose
  // blocks start off the 4 × 4 blocks and the 64 × 64 tiles.
  const CASES: Array<[Path, number, number, number, number[], boolean]> = [
    ['barrier-free', 9, 150, 36, [64, 64, 22], false], // matmul_reg4x4_forward
    ['barrier-free', 9, 150, 36, [37, 64, 49], true],
    ['barrier-free', 6, 150, 35, [64, 64, 22], false], // matmul_reg4x4_scalar_forward
    ['barrier-free', 6, 150, 35, [37, 64, 49], true],
    ['tiled', 70, 150, 36, [64, 64, 22], false], // matmul_tile64_forward
    ['tiled', 70, 150, 33, [37, 64, 49], true],
    ['tiled', 5, 150, 36, [64, 64, 22], false], // matmul_reg4x4_scalar_forward
    ['tiled', 5, 150, 33, [37, 64, 49], true],
  ];
  for (const [path, M, N, K, widths, f16] of CASES) {
    it(`gives the unsplit launch's bits on the ${path} kernels at M=${M} N=${N} K=${K}, blocks of ${widths.join(', ')}${f16 ? ', f16 weight' : ''}`, async () => {
      const ctx = await onPath(path);
      const seed = M + N + K + widths[0];
      const x = randomArray(M * K, seed + 1, -1, 1);
      const w = randomArray(N * K, seed + 2, -1, 1);
      const b = randomArray(N, seed + 3, -1, 1);
      const dtype = f16 ? 'f16' : 'f32';
      const inp = createTensor(ctx, [M, K], 'f32', x);
      const whole = createTensor(ctx, [M, N], 'f32', new Float32Array(M * N).fill(SENTINEL));
      const split = createTensor(ctx, [M, N], 'f32', new Float32Array(M * N).fill(SENTINEL));
      const rec = new Recorder(ctx);
      matmulForward(rec, whole, inp, createTensor(ctx, [N, K], dtype, w), createTensor(ctx, [N], 'f32', b), { M, N, K });
      for (const [col0, n] of blocks(N, widths)) {
        const weight = createTensor(ctx, [n, K], dtype, w.subarray(col0 * K, (col0 + n) * K));
        const bias = createTensor(ctx, [n], 'f32', b.subarray(col0, col0 + n));
        matmulForward(rec, split, inp, weight, bias, { M, N: n, K, ld: N, col0 });
      }
      rec.submit();
      const [got, want] = [await readTensor(ctx, split), await readTensor(ctx, whole)];
      expectClose(want, matmulForwardRef(x, f16 ? rounded(w) : w, b, M, N, K), 2e-6 * K + 1e-6, 1e-4, 'unsplit');
      expect(got).toEqual(want);
    });
  }
});

interface BackwardCase extends BlockCase {
  scale?: number;
  accumulate?: boolean;
  vec4?: boolean; // matmul_reg4x4_backward: reads dout as vec4 rows (DOUT_VEC4)
  splits?: number; // with partials: the slices of n backwardSplits gives
}

describe('matmulBackward from a column block of dout', () => {
  const CASES: BackwardCase[] = [
    { path: 'barrier-free', M: 7, N: 12, K: 8, ld: 24, col0: 8, vec4: true, kernel: 'matmul_reg4x4_backward' },
    { path: 'barrier-free', M: 10, N: 16, K: 12, ld: 36, col0: 20, vec4: true, f16: true, accumulate: true, scale: -0.5, kernel: 'matmul_reg4x4_backward' },
    { path: 'barrier-free', M: 6, N: 12, K: 12, ld: 27, col0: 8, vec4: false, kernel: 'matmul_reg4x4_backward' }, // ld odd
    { path: 'barrier-free', M: 5, N: 8, K: 4, ld: 20, col0: 6, vec4: false, f16: true, accumulate: true, scale: 2, kernel: 'matmul_reg4x4_backward' }, // col0 not a multiple of 4
    { path: 'barrier-free', M: 9, N: 13, K: 16, ld: 40, col0: 20, vec4: false, kernel: 'matmul_reg4x4_backward' }, // N odd
    { path: 'barrier-free', M: 7, N: 11, K: 9, ld: 30, col0: 3, kernel: 'matmul_reg4x4_scalar_backward' },
    { path: 'barrier-free', M: 5, N: 6, K: 5, ld: 9, col0: 1, f16: true, accumulate: true, scale: -0.75, kernel: 'matmul_reg4x4_scalar_backward' },
    { path: 'tiled', M: FEW_ROWS - 3, N: 10, K: 12, ld: 23, col0: 7, kernel: 'matmul_reg4x4_scalar_backward' },
    { path: 'tiled', M: 70, N: 45, K: 67, ld: 101, col0: 50, accumulate: true, scale: 0.5, kernel: 'matmul_tile64_backward' },
    { path: 'tiled', M: 20, N: 37, K: 12, ld: 38, col0: 1, f16: true, kernel: 'matmul_tile64_backward' },
    { path: 'tiled', M: TILE128_MIN_SIDE, N: 8, K: TILE128_MIN_SIDE, ld: 20, col0: 12, kernel: 'matmul_tile128_backward' },
    { path: 'tiled', M: TILE128_MIN_SIDE + 2, N: 12, K: TILE128_MIN_SIDE + 4, ld: 28, col0: 4, f16: true, accumulate: true, scale: -1.5, kernel: 'matmul_tile128_backward' },
    // The tile128 shape, but dout's rows not at whole vec4s (ld odd): the 64 × 64 tiles instead.
    { path: 'tiled', M: TILE128_MIN_SIDE, N: 8, K: TILE128_MIN_SIDE, ld: 21, col0: 12, kernel: 'matmul_tile64_backward' },
    // The split over n (matmul_tile64_backward's SPLIT_N, then matmul_split_reduce).
    { path: 'tiled', M: 20, N: 1100, K: 40, ld: 1107, col0: 3, splits: 2, kernel: 'matmul_tile64_backward' },
    { path: 'tiled', M: 12, N: 1100, K: 36, ld: 1300, col0: 200, splits: 2, f16: true, accumulate: true, scale: -0.5, kernel: 'matmul_tile64_backward' },
  ];
  for (const { path, M, N, K, ld, col0, kernel, f16, scale = 1, accumulate = false, vec4, splits } of CASES) {
    const what = `${kernel}${vec4 === undefined ? '' : vec4 ? ' (dout as vec4)' : ' (dout as scalars)'}${splits ? `, n split in ${splits}` : ''}`;
    it(`${what} (${path}) reads columns ${col0} .. ${col0 + N - 1} of rows of ${ld} at M=${M} K=${K}, scale ${scale}${accumulate ? ', accumulating' : ''}${f16 ? ', f16 weight' : ''}`, async () => {
      const ctx = await onPath(path);
      const d = { M, N, K, ld, col0 };
      expect(selectMatmulInputGrad(ctx.policy, d).kernel).toBe(kernel);
      if (vec4 !== undefined) expect(columnBlockVec4(N, d)).toBe(vec4);
      const partials = splits ? createTensor(ctx, [1 << 16], 'f32') : undefined;
      expect(backwardSplits(ctx.policy, d, partials?.size ?? 0)).toBe(splits ?? 1);
      const seed = M * 5 + N + K * 3 + ld;
      // dout's block holds the gradient; everything else in its rows is NaN, never to be read.
      const size = columnBlockSize(M, N, d);
      const wide = randomArray(size, seed + 1, -1, 1).map((v, i) => (inBlock(i, ld, col0, N) ? v : NaN));
      const w = randomArray(N * K, seed + 2, -1, 1);
      const init = randomArray(M * K, seed + 3, -2, 2);
      const dinp = sentinelOutput(ctx, M * K, init);
      const rec = new Recorder(ctx);
      matmulBackward(rec, dinp, createTensor(ctx, [size], 'f32', wide), createTensor(ctx, [N, K], f16 ? 'f16' : 'f32', w), { ...d, scale, accumulate }, partials);
      rec.submit();
      const want = matmulBackwardRef(blockOf(wide, M, N, ld, col0), f16 ? rounded(w) : w, M, N, K, scale, accumulate ? init : null);
      expectClose(await readSentinelOutput(ctx, dinp, M * K), want, 2e-6 * N + 1e-6, 1e-4, 'dinp');
    });
  }

  // [path, M, N, K, block widths, partials]: Σ over column blocks, the first overwriting, the rest
  // accumulating, against the unsplit gradient (f32 sums in another order: close, not the same bits).
  const SUMS: Array<[Path, number, number, number, number[], boolean]> = [
    ['barrier-free', 9, 150, 36, [64, 64, 22], false], // matmul_reg4x4_backward, dout as vec4 but for the last block
    ['barrier-free', 9, 150, 35, [37, 64, 49], false], // matmul_reg4x4_scalar_backward
    ['tiled', 70, 150, 36, [64, 64, 22], false], // matmul_tile64_backward
    ['tiled', 5, 150, 36, [37, 64, 49], false], // matmul_reg4x4_scalar_backward
    ['tiled', 20, 2100, 40, [1050, 1050], true], // n split in 2 in each block
  ];
  for (const [path, M, N, K, widths, split] of SUMS) {
    it(`summed over column blocks of ${widths.join(', ')} (${path}${split ? ', n split' : ''}) at M=${M} N=${N} K=${K} matches the unsplit gradient`, async () => {
      const ctx = await onPath(path);
      const seed = M + N + K + widths[0];
      const dout = randomArray(M * N, seed + 1, -1, 1);
      const w = randomArray(N * K, seed + 2, -1, 1);
      const scale = -0.5;
      const partials = split ? createTensor(ctx, [1 << 16], 'f32') : undefined;
      const doutT = createTensor(ctx, [M, N], 'f32', dout);
      const [whole, summed] = [sentinelOutput(ctx, M * K), sentinelOutput(ctx, M * K, new Float32Array(M * K).fill(SENTINEL))];
      const rec = new Recorder(ctx);
      matmulBackward(rec, whole, doutT, createTensor(ctx, [N, K], 'f32', w), { M, N, K, scale }, partials);
      for (const [i, [col0, n]] of blocks(N, widths).entries()) {
        const block = { M, N: n, K, ld: N, col0 };
        if (split) expect(backwardSplits(ctx.policy, block, partials!.size)).toBe(2);
        const weight = createTensor(ctx, [n, K], 'f32', w.subarray(col0 * K, (col0 + n) * K));
        matmulBackward(rec, summed, doutT, weight, { ...block, scale, accumulate: i > 0 }, partials);
      }
      rec.submit();
      const [got, want] = [await readSentinelOutput(ctx, summed, M * K), await readSentinelOutput(ctx, whole, M * K)];
      expectClose(want, matmulBackwardRef(dout, w, M, N, K, scale), 2e-6 * N + 1e-6, 1e-4, 'unsplit');
      expectClose(got, want, 2e-6 * N + 1e-6, 1e-4, 'summed blocks vs unsplit');
    });
  }
});

describe('column block checks', () => {
  it('sizes a column block as (M − 1)·ld + col0 + N, the plain operand by default', () => {
    expect(columnBlockSize(3, 5, {})).toBe(15);
    expect(columnBlockSize(3, 5, { ld: 9, col0: 2 })).toBe(25);
    expect(columnBlockSize(0, 5, { ld: 9, col0: 2 })).toBe(0);
    expect(columnBlockSize(3, 0, { ld: 9, col0: 2 })).toBe(0);
    expect(columnBlockVec4(8, { ld: 16, col0: 4 })).toBe(true);
    expect(columnBlockVec4(8, { ld: 18, col0: 4 })).toBe(false);
    expect(columnBlockVec4(8, { ld: 16, col0: 2 })).toBe(false);
    expect(columnBlockVec4(6, {})).toBe(false);
    expect(() => checkColumnBlock('k', 5, { ld: 9, col0: 4 })).not.toThrow();
    expect(() => checkColumnBlock('k', 5, { ld: 9, col0: 5 })).toThrow('k: a column block needs 0 ≤ col0 and col0 + N ≤ ld, not col0=5 N=5 ld=9');
    expect(() => checkColumnBlock('k', 5, { ld: 4 })).toThrow(/col0=0 N=5 ld=4/);
    expect(() => checkColumnBlock('k', 5, { ld: 9, col0: -1 })).toThrow(/col0=-1 N=5 ld=9/);
    expect(() => checkColumnBlock('k', 5, { ld: 9.5 })).toThrow(/ld=9.5/);
  });

  it('rejects a block past its rows and an operand too small for it, in every launcher', async () => {
    const ctx = await gpu();
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    const rec = new Recorder(ctx);
    // M=2 N=3 K=4 at ld=5, col0=1: (2 − 1)·5 + 1 + 3 = 9 elements.
    const dims = { M: 2, N: 3, K: 4, ld: 5, col0: 1 };
    expect(() => matmulForward(rec, t(10), t(8), t(12), null, { ...dims, col0: 3 })).toThrow(
      'matmul_forward: a column block needs 0 ≤ col0 and col0 + N ≤ ld, not col0=3 N=3 ld=5',
    );
    expect(() => matmulForward(rec, t(8), t(8), t(12), null, dims)).toThrow(/matmul_forward: out has 8 elements, needs 9/);
    expect(() => matmulBackward(rec, t(8), t(10), t(12), { ...dims, ld: 2, col0: 0 })).toThrow(
      'matmul_backward: a column block needs 0 ≤ col0 and col0 + N ≤ ld, not col0=0 N=3 ld=2',
    );
    expect(() => matmulBackward(rec, t(8), t(8), t(12), dims)).toThrow(/matmul_backward: dout has 8 elements, needs 9/);
    expect(() => matmulTile128Forward(rec, t(8), t(8), t(12), null, dims)).toThrow(/matmul_tile128_forward: out has 8 elements, needs 9/);
    expect(() => matmulTile128Backward(rec, t(8), t(15), t(16), { M: 2, N: 4, K: 4, ld: 8, col0: 4 })).toThrow(/matmul_tile128_backward: dout has 15 elements, needs 16/);
    expect(() => matmulTile128Backward(rec, t(8), t(16), t(16), { M: 2, N: 4, K: 4, ld: 10, col0: 4 })).toThrow(/and col0\) must be positive multiples of 4/);
    // The exact size is enough.
    expect(() => matmulForward(rec, t(9), t(8), t(12), null, dims)).not.toThrow();
    expect(() => matmulBackward(rec, t(8), t(9), t(12), dims)).not.toThrow();
    rec.submit();
  });
});
