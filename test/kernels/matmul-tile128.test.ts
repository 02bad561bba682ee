// matmul_tile128_forward and matmul_tile128_backward (128 × 128 tiles, 16-wide slices of the
// reduction, double-buffered): run explicitly with rec.run (whatever the device's kernel policy
// would pick) and checked against the CPU references with the existing matmul tests' tolerances.
// The shapes are small and awkward: more than one tile in M and in the output columns without
// being multiples of 128, M = 1, a reduction length that is not a multiple of the slice (40 = 2·16
// + 8), or shorter than one slice (4, 12), N = 1; with and without bias and scale, overwriting and
// accumulating, and with the weight stored as f16 (checked against the reference applied to the
// f16-rounded weight). The kernels need K (forward) and N, K (backward) to be multiples of 4: odd
// sizes go to the existing kernels, which the launchers' guards check here. Barriers are slow on
// SwiftShader, so the shapes stay within a few tiles.

import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../src/gpu/f16.js';
import { Recorder } from '../../src/gpu/kernel.js';
import {
  matmulTile128Backward,
  matmulTile128BackwardKernel,
  matmulTile128Forward,
  matmulTile128ForwardKernel,
} from '../../src/gpu/kernels/matmul/tile128.js';
import { TILE128, tile128BackwardSupports, tile128ForwardSupports, tile128Grid } from '../../src/gpu/kernels/matmul/tiles.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { readSentinelOutput, sentinelOutput } from './sentinel-output.js';
import { matmulBackwardRef } from '../ref/matmul-backward.js';
import { matmulForwardRef } from '../ref/matmul.js';

const PAD = 20; // elements past the output, which must stay untouched
const rounded = (w: Float32Array) => Float32Array.from(w, roundToF16);



interface ForwardCase {
  shape: [number, number, number];
  bias: boolean;
  scale: number;
  f16: boolean;
}

const FORWARD: ForwardCase[] = [
  { shape: [130, 136, 40], bias: false, scale: 1, f16: false },
  { shape: [130, 136, 40], bias: true, scale: 1, f16: false },
  { shape: [1, 5, 4], bias: true, scale: 1, f16: false },
  { shape: [129, 1, 12], bias: false, scale: -0.5, f16: false },
  { shape: [3, 260, 68], bias: true, scale: 2, f16: false },
  { shape: [130, 136, 40], bias: true, scale: 1, f16: true },
  { shape: [5, 3, 4], bias: false, scale: 1, f16: true }, // 24 bytes of halves: not a whole number of vec4
  { shape: [260, 130, 100], bias: true, scale: 1, f16: false },
  { shape: [64, 576, 576], bias: false, scale: 1, f16: true }, // a SmolLM2 projection at 64 tokens
];

describe('matmul_tile128_forward', () => {
  for (const { shape: [M, N, K], bias: withBias, scale, f16 } of FORWARD) {
    it(`matches the CPU reference at M=${M} N=${N} K=${K} ${withBias ? 'with' : 'without'} bias, scale ${scale}${f16 ? ', f16 weight' : ''}`, async () => {
      const ctx = await gpu();
      const x = randomArray(M * K, 3 + M * K, -1, 1);
      const w = randomArray(N * K, 11 + N * K, -1, 1);
      const b = withBias ? randomArray(N, 5 + N, -1, 1) : null;
      const weight = createTensor(ctx, [N, K], f16 ? 'f16' : 'f32', w);
      const out = sentinelOutput(ctx, M * N, undefined, PAD);
      const inp = createTensor(ctx, [M, K], 'f32', x);
      const bias = b ? createTensor(ctx, [N], 'f32', b) : weight;
      const rec = new Recorder(ctx);
      // inp fills the fused LoRA term's slots (u, loraB), unread without it.
      rec.run(matmulTile128ForwardKernel.formats[f16 ? 'f16' : 'f32'], { M, N, K, hasBias: !!b, scale }, [out, inp, weight, bias, inp, inp]);
      rec.submit();
      const want = matmulForwardRef(x, f16 ? rounded(w) : w, null, M, N, K).map((v, i) => scale * v + (b ? b[i % N] : 0));
      expectClose(await readSentinelOutput(ctx, out, M * N), want, 2e-6 * K + 1e-6, 1e-4, 'out');
    });
  }

  it('through the launcher: an f16 weight below one vec4 (8 bytes) binds as it is', async () => {
    const ctx = await gpu();
    const [M, N, K] = [2, 1, 4];
    const x = randomArray(M * K, 31, -1, 1);
    const w = randomArray(N * K, 32, -1, 1);
    const weight = createTensor(ctx, [N, K], 'f16', w);
    const inp = createTensor(ctx, [M, K], 'f32', x);
    expect(weight.byteLength).toBe(8);
    const out = sentinelOutput(ctx, M * N, undefined, PAD);
    const rec = new Recorder(ctx);
    matmulTile128Forward(rec, out, inp, weight, null, { M, N, K });
    rec.submit();
    expectClose(await readSentinelOutput(ctx, out, M * N), matmulForwardRef(x, rounded(w), null, M, N, K), 2e-6 * K + 1e-6, 1e-4, 'out');
  });
});

interface BackwardCase {
  shape: [number, number, number];
  accumulate: boolean;
  scale: number;
  f16: boolean;
}

const BACKWARD: BackwardCase[] = [
  { shape: [130, 40, 136], accumulate: false, scale: 1, f16: false },
  { shape: [130, 40, 136], accumulate: true, scale: -0.75, f16: false },
  { shape: [1, 4, 8], accumulate: false, scale: 1, f16: false },
  { shape: [70, 20, 260], accumulate: true, scale: 0.5, f16: false },
  { shape: [130, 40, 136], accumulate: true, scale: -0.75, f16: true },
  { shape: [3, 4, 4], accumulate: false, scale: 1, f16: true },
  { shape: [260, 100, 132], accumulate: false, scale: 1, f16: false },
  { shape: [64, 576, 576], accumulate: true, scale: 1, f16: false },
];

describe('matmul_tile128_backward', () => {
  for (const { shape: [M, N, K], accumulate, scale, f16 } of BACKWARD) {
    it(`matches the CPU reference at M=${M} N=${N} K=${K} scale=${scale}${accumulate ? ' accumulating' : ''}${f16 ? ', f16 weight' : ''}`, async () => {
      const ctx = await gpu();
      const dy = randomArray(M * N, 3 + M * N, -1, 1);
      const w = randomArray(N * K, 11 + N * K, -1, 1);
      const init = randomArray(M * K, 7 + M * K, -2, 2);
      const weight = createTensor(ctx, [N, K], f16 ? 'f16' : 'f32', w);
      const dinp = sentinelOutput(ctx, M * K, init, PAD);
      const rec = new Recorder(ctx);
      const dout = createTensor(ctx, [M, N], 'f32', dy);
      // dout fills the fused LoRA term's slots (du, loraA), unread without it.
      rec.run(matmulTile128BackwardKernel.formats[f16 ? 'f16' : 'f32'], { M, N, K, scale, accumulate }, [dinp, dout, weight, dout, dout]);
      rec.submit();
      const want = matmulBackwardRef(dy, f16 ? rounded(w) : w, M, N, K, scale, accumulate ? init : null);
      expectClose(await readSentinelOutput(ctx, dinp, M * K), want, 2e-6 * N + 1e-6, 1e-4, 'dinp');
    });
  }

  it('through the launcher: scale 1, overwriting by default', async () => {
    const ctx = await gpu();
    const [M, N, K] = [9, 8, 12];
    const dy = randomArray(M * N, 41, -1, 1);
    const w = randomArray(N * K, 42, -1, 1);
    const dinp = createTensor(ctx, [M, K], 'f32', new Float32Array(M * K).fill(9));
    const rec = new Recorder(ctx);
    matmulTile128Backward(rec, dinp, createTensor(ctx, [M, N], 'f32', dy), createTensor(ctx, [N, K], 'f32', w), { M, N, K });
    rec.submit();
    expectClose(await readTensor(ctx, dinp), matmulBackwardRef(dy, w, M, N, K), 2e-6 * N + 1e-6, 1e-4, 'dinp');
  });
});

describe('matmul_tile128 launchers', () => {
  it('take only multiples of 4 and reject tensors smaller than the dimensions', async () => {
    const ctx = await gpu();
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    expect([tile128ForwardSupports({ K: 40 }), tile128ForwardSupports({ K: 39 }), tile128ForwardSupports({ K: 0 })]).toEqual([true, false, false]);
    expect([tile128BackwardSupports({ N: 8, K: 4 }), tile128BackwardSupports({ N: 6, K: 4 }), tile128BackwardSupports({ N: 8, K: 5 })]).toEqual([true, false, false]);
    const rec = new Recorder(ctx);
    expect(() => matmulTile128Forward(rec, t(6), t(6), t(9), null, { M: 2, N: 3, K: 3 })).toThrow(/K = 3 is not a positive multiple of 4/);
    expect(() => matmulTile128Forward(rec, t(5), t(8), t(12), null, { M: 2, N: 3, K: 4 })).toThrow(/out has 5 elements, needs 6/);
    expect(() => matmulTile128Forward(rec, t(6), t(8), t(12), t(2), { M: 2, N: 3, K: 4 })).toThrow(/bias has 2 elements, needs 3/);
    expect(() => matmulTile128Backward(rec, t(8), t(8), t(16), { M: 2, N: 2, K: 4 })).toThrow(/must be positive multiples of 4/);
    expect(() => matmulTile128Backward(rec, t(8), t(8), t(15), { M: 2, N: 4, K: 4 })).toThrow(/weight has 15 elements, needs 16/);
    rec.submit();
  });

  it('cover every tile within the 65535-workgroups-per-dimension limit', () => {
    for (const [rows, cols] of [[1, 151936], [65536, 151936], [65535 * 128, 10], [65535 * 128 + 1, 10], [70000 * 128, 1]]) {
      const [x, y, z] = tile128Grid(rows, cols);
      const rowTiles = Math.ceil(rows / TILE128);
      expect(x).toBe(Math.ceil(cols / TILE128));
      for (const g of [x, y, z]) expect(g).toBeLessThanOrEqual(65535);
      expect(y * z).toBeGreaterThanOrEqual(rowTiles);
      expect(y * (z - 1)).toBeLessThan(rowTiles);
    }
    expect(matmulTile128ForwardKernel.formats.f32.dispatch({ M: 130, N: 129, K: 4, hasBias: false })).toEqual([2, 2, 1]);
    expect(matmulTile128BackwardKernel.formats.f16.dispatch({ M: 1, N: 4, K: 260, scale: 1, accumulate: false })).toEqual([3, 1, 1]);
  });
});
