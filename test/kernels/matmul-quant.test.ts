// The matmuls that read a frozen weight, with the weight stored quantized as nf4 or q8 (each
// kernel composed with the format's reader, weight-format.ts; the words from quantizeNf4 /
// quantizeQ8, src/gpu/quant/), checked against the CPU reference applied to the dequantized weight
// (dequantizeNf4 / dequantizeQ8) with the f32 tests' tolerance: the products and sums stay f32,
// only the weight's storage changes, and no dequantized copy is made on the GPU.
//  1. Each kernel named explicitly, whatever the device's policy would pick: out = x·Wᵀ (+ b) with
//     matmul_tile128_forward, matmul_tile64_forward, matmul_reg4x4_forward and
//     matmul_reg4x4_scalar_forward; dx (+)= s·dy·W with the four _backward kernels. Small awkward
//     shapes: M, N, K not multiples of the tiles, odd K for nf4 (blocks of 64 straddle rows, and a
//     last block is short), K a multiple of 32 for q8 (its blocks lie along rows).
//  2. The launchers on both kernel paths (test/helpers.ts barrierFreeKernels, tiledKernels), with
//     LoRA fused (matmulLoraForward, matmulLoraBackward), which must give the bits of the separate
//     launches they replace, the 128 × 128 tiles at the largest shapes, and the backward split over n.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { Recorder, type KernelSpec } from '../../src/gpu/kernel.js';
import { loraForward } from '../../src/gpu/kernels/lora.js';
import {
  canFuseLoraBackward,
  matmulBackward,
  matmulLoraBackward,
  matmulReg4x4BackwardKernel,
  matmulReg4x4ScalarBackwardKernel,
  matmulTile64BackwardKernel,
  reg4x4Dout4,
  type MatmulBackwardWeightLaunch,
} from '../../src/gpu/kernels/matmul/backward.js';
import {
  canFuseLoraForward,
  matmulForward,
  matmulLoraForward,
  matmulReg4x4ForwardKernel,
  matmulReg4x4ScalarForwardKernel,
  matmulTile64ForwardKernel,
  type MatmulLaunch,
} from '../../src/gpu/kernels/matmul/forward.js';
import { backwardSplits } from '../../src/gpu/kernels/matmul/select.js';
import { matmulTile128Backward, matmulTile128Forward } from '../../src/gpu/kernels/matmul/tile128.js';
import type { WeightKernel } from '../../src/gpu/kernels/weight-format.js';
import { dequantizeNf4, quantizeNf4 } from '../../src/gpu/quant/nf4.js';
import { dequantizeQ8, quantizeQ8 } from '../../src/gpu/quant/q8.js';
import { createTensor, readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { barrierFreeKernels, expectClose, gpu, randomArray, tiledKernels } from '../helpers.js';
import { readSentinelOutput, sentinelOutput } from './sentinel-output.js';
import { loraForwardRef } from '../ref/lora.js';
import { matmulBackwardRef } from '../ref/matmul-backward.js';
import { matmulForwardRef } from '../ref/matmul.js';

type Ctx = GpuContext;
type Format = 'nf4' | 'q8';
const FORMATS: Format[] = ['nf4', 'q8'];

/** A shape for `format`: q8 weights have rows (K) a multiple of 32, so K is rounded up to one. */
const shapeFor = (format: Format, [M, N, K, ...rest]: number[]): number[] => [M, N, format === 'q8' ? Math.ceil(K / 32) * 32 : K, ...rest];

/** A random [N, K] weight stored as `format`, and its dequantized values (what the kernels compute with). */
function quantWeight(ctx: Ctx, format: Format, N: number, K: number, seed: number): { weight: Tensor; w: Float32Array } {
  const values = randomArray(N * K, seed, -1, 1);
  const words = format === 'nf4' ? quantizeNf4(values) : quantizeQ8(values, K);
  const w = format === 'nf4' ? dequantizeNf4(words, N * K) : dequantizeQ8(words, N * K);
  return { weight: createTensor(ctx, [N, K], format, words, `w.${format}`), w };
}



type ForwardRun = (rec: Recorder, out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | null, d: { M: number; N: number; K: number }) => void;
const forwardKernel = (kernel: WeightKernel<MatmulLaunch>): ForwardRun => (rec, out, inp, weight, bias, { M, N, K }) => {
  const spec: KernelSpec<MatmulLaunch> = kernel.formats[weight.dtype as Format];
  rec.run(spec, { M, N, K, hasBias: !!bias }, [out, inp, weight, bias ?? weight, inp, inp].slice(0, spec.bindings.length));
};

describe('matmul forward kernels with an nf4 or q8 weight', () => {
  const cases: Array<[string, ForwardRun, number[][]]> = [
    ['matmul_tile128_forward', (rec, out, inp, weight, bias, d) => matmulTile128Forward(rec, out, inp, weight, bias, d), [[5, 7, 4], [130, 136, 40]]],
    ['matmul_tile64_forward', forwardKernel(matmulTile64ForwardKernel), [[5, 7, 3], [70, 66, 33]]],
    ['matmul_reg4x4_scalar_forward', forwardKernel(matmulReg4x4ScalarForwardKernel), [[1, 1, 1], [5, 7, 3], [3, 65, 33]]],
    ['matmul_reg4x4_forward', forwardKernel(matmulReg4x4ForwardKernel), [[1, 2, 4], [5, 7, 4], [63, 17, 36]]],
  ];
  for (const format of FORMATS)
  for (const [name, run, shapes] of cases)
  for (const [M, N, K] of shapes.map((s) => shapeFor(format, s)))
  for (const withBias of [false, true]) {
    if (M > 100 && withBias) continue; // the 128 × 128 tiles are slow here: one variant
    it(`${name}, ${format} weight, at M=${M} N=${N} K=${K} ${withBias ? 'with' : 'without'} bias`, async () => {
      const ctx = await gpu();
      const x = randomArray(M * K, 3 + M * K, -1, 1);
      const b = withBias ? randomArray(N, 5 + N, -1, 1) : null;
      const { weight, w } = quantWeight(ctx, format, N, K, 11 + N * K);
      const out = sentinelOutput(ctx, M * N);
      const rec = new Recorder(ctx);
      run(rec, out, createTensor(ctx, [M, K], 'f32', x), weight, b ? createTensor(ctx, [N], 'f32', b) : null, { M, N, K });
      rec.submit();
      expectClose(await readSentinelOutput(ctx, out, M * N), matmulForwardRef(x, w, b, M, N, K), 2e-6 * K + 1e-6, 1e-4, 'out');
    });
  }
});

type BackwardRun = (rec: Recorder, dinp: Tensor, dout: Tensor, weight: Tensor, d: MatmulBackwardWeightLaunch) => void;
const backwardKernel = (kernel: WeightKernel<MatmulBackwardWeightLaunch>): BackwardRun => (rec, dinp, dout, weight, d) => {
  const spec: KernelSpec<MatmulBackwardWeightLaunch> = kernel.formats[weight.dtype as Format];
  const bindings = [dinp, dout, weight, dout, weight, reg4x4Dout4(d.N, dout, weight)]; // the weight: ≥ 36 bytes, a vec4 filler
  rec.run(spec, d, bindings.slice(0, spec.bindings.length));
};

describe('matmul backward kernels with an nf4 or q8 weight', () => {
  const cases: Array<[string, BackwardRun, number[][]]> = [
    ['matmul_tile128_backward', (rec, dinp, dout, weight, d) => matmulTile128Backward(rec, dinp, dout, weight, d), [[5, 8, 4], [130, 12, 136]]],
    ['matmul_tile64_backward', backwardKernel(matmulTile64BackwardKernel), [[5, 7, 3], [70, 33, 66]]],
    ['matmul_reg4x4_scalar_backward', backwardKernel(matmulReg4x4ScalarBackwardKernel), [[1, 1, 1], [5, 7, 3], [9, 1, 33]]],
    ['matmul_reg4x4_backward', backwardKernel(matmulReg4x4BackwardKernel), [[1, 2, 4], [5, 7, 4], [66, 17, 36]]],
  ];
  for (const format of FORMATS)
  for (const [name, run, shapes] of cases)
  for (const [M, N, K] of shapes.map((s) => shapeFor(format, s)))
  for (const { accumulate, scale } of [{ accumulate: false, scale: 1 }, { accumulate: true, scale: -0.75 }]) {
    if (M > 100 && !accumulate) continue; // the 128 × 128 tiles are slow here: one variant
    it(`${name}, ${format} weight, at M=${M} N=${N} K=${K} scale=${scale}${accumulate ? ' accumulating' : ''}`, async () => {
      const ctx = await gpu();
      const dout = randomArray(M * N, 3 + M * N, -1, 1);
      const init = randomArray(M * K, 7 + M * K, -2, 2);
      const { weight, w } = quantWeight(ctx, format, N, K, 11 + N * K);
      const dinp = sentinelOutput(ctx, M * K, init);
      const rec = new Recorder(ctx);
      run(rec, dinp, createTensor(ctx, [M, N], 'f32', dout), weight, { M, N, K, scale, accumulate });
      rec.submit();
      const want = matmulBackwardRef(dout, w, M, N, K, scale, accumulate ? init : null);
      expectClose(await readSentinelOutput(ctx, dinp, M * K), want, 2e-6 * N + 1e-6, 1e-4, 'dinp');
    });
  }
});

/** The two kernel paths, and the shapes each is tested at: [M, N, K, R] forward and backward (K rounded up to 32 for q8). */
const PATHS: Array<{ name: string; pose: (ctx: Ctx) => Ctx; forward: number[][]; backward: number[][] }> = [
  {
    name: 'barrier-free kernels',
    pose: barrierFreeKernels,
    forward: [[1, 1, 4, 4], [13, 10, 12, 16], [66, 17, 36, 16]],
    backward: [[1, 2, 4, 4], [5, 7, 8, 1], [66, 17, 36, 16], [9, 33, 20, 2]],
  },
  {
    // 64 × 64 tiles (any K), and the 128 × 128 tiles at the last shape.
    name: 'GPU kernels',
    pose: tiledKernels,
    forward: [[9, 7, 6, 4], [66, 17, 36, 16], [260, 264, 256, 16]],
    backward: [[9, 7, 6, 1], [66, 17, 36, 16], [258, 260, 256, 16]],
  },
];

for (const path of PATHS)
describe(`matmulLoraForward and matmulForward with an nf4 or q8 weight, ${path.name}`, () => {
  for (const format of FORMATS)
  for (const [M, N, K, R] of path.forward.map((s) => shapeFor(format, s)))
  for (const withBias of [false, true]) {
    if (M >= 256 && withBias !== (format === 'q8')) continue; // the 128 × 128 tiles are slow here: one variant each
    it(`${format}: fused equals separate bit for bit, both the reference, at M=${M} N=${N} K=${K} R=${R}${withBias ? ', bias' : ''}`, async () => {
      const ctx = path.pose(await gpu());
      const seed = M * 1000 + N * 10 + K + R;
      const scale = 1.75;
      const x = randomArray(M * K, seed + 1, -1, 1);
      const b = withBias ? randomArray(N, seed + 3, -1, 1) : null;
      const u = randomArray(M * R, seed + 4, -1, 1);
      const B = randomArray(N * R, seed + 5, -1, 1);
      const { weight, w } = quantWeight(ctx, format, N, K, seed + 2);
      const [xT, uT, BT] = [createTensor(ctx, [M, K], 'f32', x), createTensor(ctx, [M, R], 'f32', u), createTensor(ctx, [N, R], 'f32', B)];
      const bias = b ? createTensor(ctx, [N], 'f32', b) : null;
      const [fused, separate] = [sentinelOutput(ctx, M * N), sentinelOutput(ctx, M * N)];
      const rec = new Recorder(ctx);
      expect(canFuseLoraForward(rec, { M, K, R })).toBe(true);
      matmulLoraForward(rec, fused, xT, weight, bias, uT, BT, { M, N, K, R, scale });
      matmulForward(rec, separate, xT, weight, bias, { M, N, K });
      loraForward(rec, separate, uT, BT, { M, N, R, scale });
      rec.submit();
      const got = await readSentinelOutput(ctx, fused, M * N);
      expect(got).toEqual(await readSentinelOutput(ctx, separate, M * N));
      expectClose(got, loraForwardRef(matmulForwardRef(x, w, b, M, N, K), u, B, M, N, R, scale), 4e-6 * (K + R) + 1e-6, 1e-4, 'out');
    });
  }
});

for (const path of PATHS)
describe(`matmulLoraBackward and matmulBackward with an nf4 or q8 weight, ${path.name}`, () => {
  const VARIANTS = [
    { accumulate: false, scale: 1 },
    { accumulate: true, scale: -0.75 },
  ];
  for (const format of FORMATS)
  for (const [M, N, K, R] of path.backward.map((s) => shapeFor(format, s)))
  for (const { accumulate, scale } of VARIANTS) {
    if (M >= 256 && accumulate !== (format === 'q8')) continue; // the 128 × 128 tiles are slow here: one variant each
    it(`${format}: fused equals separate bit for bit, both the reference, at M=${M} N=${N} K=${K} R=${R} scale=${scale}${accumulate ? ', accumulating' : ''}`, async () => {
      const ctx = path.pose(await gpu());
      const seed = M * 1000 + N * 10 + K + R;
      const dy = randomArray(M * N, seed + 1, -1, 1);
      const du = randomArray(M * R, seed + 3, -1, 1);
      const A = randomArray(R * K, seed + 4, -1, 1);
      const init = randomArray(M * K, seed + 5, -2, 2);
      const { weight, w } = quantWeight(ctx, format, N, K, seed + 2);
      const [dyT, duT, AT] = [createTensor(ctx, [M, N], 'f32', dy), createTensor(ctx, [M, R], 'f32', du), createTensor(ctx, [R, K], 'f32', A)];
      const [fused, separate] = [sentinelOutput(ctx, M * K, init), sentinelOutput(ctx, M * K, init)];
      const rec = new Recorder(ctx);
      expect(canFuseLoraBackward(rec, { M, N, K, R }, weight, dyT)).toBe(true);
      matmulLoraBackward(rec, fused, dyT, weight, duT, AT, { M, N, K, R, scale, accumulate });
      matmulBackward(rec, separate, dyT, weight, { M, N, K, scale, accumulate });
      matmulBackward(rec, separate, duT, AT, { M, N: R, K, accumulate: true });
      rec.submit();
      const got = await readSentinelOutput(ctx, fused, M * K);
      expect(got).toEqual(await readSentinelOutput(ctx, separate, M * K));
      const base = matmulBackwardRef(dy, w, M, N, K, scale, accumulate ? init : null);
      expectClose(got, matmulBackwardRef(du, A, M, R, K, 1, base), 4e-6 * (N + R) + 1e-6, 1e-4, 'dinp');
    });
  }
});

describe('matmulBackward split over n with an nf4 or q8 weight (GPU kernels)', () => {
  for (const format of FORMATS) {
    it(`${format}: the split sum matches the reference`, async () => {
      const ctx = tiledKernels(await gpu());
      const [M, N, K] = shapeFor(format, [20, 1100, 40]);
      expect(backwardSplits(ctx.policy, { M, N, K }, 1 << 16)).toBe(2);
      const dout = randomArray(M * N, 1, -1, 1);
      const init = randomArray(M * K, 3, -2, 2);
      const { weight, w } = quantWeight(ctx, format, N, K, 2);
      const dinp = createTensor(ctx, [M, K], 'f32', init);
      const rec = new Recorder(ctx);
      matmulBackward(rec, dinp, createTensor(ctx, [M, N], 'f32', dout), weight, { M, N, K, scale: -0.5, accumulate: true }, createTensor(ctx, [1 << 16], 'f32'));
      rec.submit();
      expectClose(await readTensor(ctx, dinp), matmulBackwardRef(dout, w, M, N, K, -0.5, init), 2e-6 * N + 1e-6, 1e-4, 'split dinp');
    });
  }
});
