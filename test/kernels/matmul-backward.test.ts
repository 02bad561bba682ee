import { describe, expect, it } from 'vitest';
import { Recorder, type KernelSpec } from '../../src/gpu/kernel.js';
import {
  matmulBackward,
  matmulReg4x4BackwardKernel,
  matmulReg4x4ScalarBackwardKernel,
  matmulTile64BackwardKernel,
  reg4x4Dout4,
  type MatmulBackwardLaunch,
} from '../../src/gpu/kernels/matmul/backward.js';
import { matmulReg4x4WeightGradKernel, matmulTile64WeightGradKernel, matmulWeightGrad } from '../../src/gpu/kernels/matmul/weight-grad.js';
import { createTensor, readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { matmulBackwardRef, matmulWeightGradRef } from '../ref/matmul-backward.js';

// matmul_tile64_backward's tiles are 64 × 64 outputs and 32 along N; matmul_reg4x4_scalar_backward's
// blocks are 4 × 4; matmul_tile64_weight_grad's tiles are 64 × 64 outputs and 32 rows of M per chunk. The shapes
// cover a single row, N = 0 and 1, LoRA ranks as the reduced or the output dimension (R = 1, 4,
// 16), sizes below, at and above one tile that are not multiples of it, and M = 300 (ten chunks).
// The barrier-free matmul_reg4x4_backward (K a multiple of 4) and matmul_reg4x4_weight_grad (N
// and K multiples of 4) run at the shapes that meet their condition plus REGTILE_* (M not a multiple
// of 4, N = 1, the training step's shapes). They read their operands as vec4 arrays, which cannot
// be bound empty: the launchers send N = 0 (backward) and M = 0 (weight grad) to the other kernels.
// Each kernel runs at every shape, overwriting with scale 1 and accumulating with scale -0.75,
// into an output pre-filled with known values and followed by sentinels that must stay untouched.
const BACKWARD_SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [5, 7, 3],
  [5, 0, 7],
  [1, 300, 64],
  [9, 1, 33],
  [70, 4, 130],
  [3, 65, 1],
  [64, 32, 64],
  [130, 70, 100],
];
const WEIGHT_GRAD_SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [5, 7, 3],
  [0, 3, 5],
  [300, 4, 70],
  [300, 70, 16],
  [100, 1, 130],
  [33, 65, 1],
  [64, 64, 64],
  [70, 130, 66],
];
const REGTILE_BACKWARD_SHAPES: Array<[number, number, number]> = [
  [1, 1, 4],
  [5, 7, 4],
  [63, 1, 172],
  [64, 512, 64],
  [66, 172, 16],
];
const REGTILE_WEIGHT_GRAD_SHAPES: Array<[number, number, number]> = [
  [1, 4, 4],
  [63, 16, 172],
  [64, 172, 16],
  [301, 512, 16],
];
const VARIANTS = [
  { accumulate: false, scale: 1 },
  { accumulate: true, scale: -0.75 },
];
const SENTINEL = 12345;
const PAD = 80;

/** An output tensor holding `init`, then PAD sentinels. */
function outputTensor(ctx: Awaited<ReturnType<typeof gpu>>, init: Float32Array): Tensor<'f32'> {
  const data = new Float32Array(init.length + PAD).fill(SENTINEL);
  data.set(init);
  return createTensor(ctx, [data.length], 'f32', data);
}

async function runAndRead(
  kernel: KernelSpec<MatmulBackwardLaunch>,
  d: MatmulBackwardLaunch,
  init: Float32Array,
  a: Float32Array,
  b: Float32Array,
  aShape: number[],
  bShape: number[],
): Promise<Float32Array> {
  const ctx = await gpu();
  const out = outputTensor(ctx, init);
  const rec = new Recorder(ctx);
  const bT = createTensor(ctx, bShape, 'f32', b);
  // The input-gradient kernels bind dout and the weight again in their fused-update slots (du,
  // loraA), unread, and matmul_reg4x4_backward dout as vec4 values (dout4, read when N is a
  // multiple of 4).
  const aT = createTensor(ctx, aShape, 'f32', a);
  const buffers = [out, aT, bT, aT, bT, reg4x4Dout4(d.N, aT, bT)].slice(0, kernel.bindings.length);
  rec.run(kernel, d, buffers);
  rec.submit();
  const got = await readTensor(ctx, out);
  expect(Array.from(got.subarray(init.length)).every((v) => v === SENTINEL), 'elements past the output untouched').toBe(true);
  return got.subarray(0, init.length);
}

describe('matmul backward kernels (input gradient)', () => {
  const cases: Array<[KernelSpec<MatmulBackwardLaunch>, [number, number, number]]> = [
    ...[matmulTile64BackwardKernel, matmulReg4x4ScalarBackwardKernel].flatMap((k) => BACKWARD_SHAPES.map((s) => [k.formats.f32, s] as [KernelSpec<MatmulBackwardLaunch>, typeof s])),
    ...[...BACKWARD_SHAPES, ...REGTILE_BACKWARD_SHAPES]
      .filter(([, N, K]) => K % 4 === 0 && N > 0)
      .map((s) => [matmulReg4x4BackwardKernel.formats.f32, s] as [KernelSpec<MatmulBackwardLaunch>, typeof s]),
  ];
  for (const [kernel, [M, N, K]] of cases)
  for (const { accumulate, scale } of VARIANTS) {
    it(`${kernel.name} matches the CPU reference at M=${M} N=${N} K=${K} scale=${scale}${accumulate ? ' accumulating' : ''}`, async () => {
      const dout = randomArray(M * N, 3 + M * N, -1, 1);
      const w = randomArray(N * K, 11 + N * K, -1, 1);
      const init = randomArray(M * K, 7 + M * K, -2, 2);
      const got = await runAndRead(kernel, { M, N, K, scale, accumulate }, init, dout, w, [M, N], [N, K]);
      const want = matmulBackwardRef(dout, w, M, N, K, scale, accumulate ? init : null);
      expectClose(got, want, 2e-6 * N + 1e-6, 1e-4, 'dinp');
    });
  }

  it('the launcher picks the scalar reg4x4 kernel for few rows and defaults to scale 1, overwriting', async () => {
    const ctx = await gpu();
    for (const [M, N, K] of [[3, 20, 9], [40, 20, 9]]) {
      const dout = randomArray(M * N, 1 + M, -1, 1);
      const w = randomArray(N * K, 2 + M, -1, 1);
      const dinp = createTensor(ctx, [M, K], 'f32', new Float32Array(M * K).fill(9));
      const rec = new Recorder(ctx);
      matmulBackward(rec, dinp, createTensor(ctx, [M, N], 'f32', dout), createTensor(ctx, [N, K], 'f32', w), { M, N, K });
      rec.submit();
      expectClose(await readTensor(ctx, dinp), matmulBackwardRef(dout, w, M, N, K), 2e-6 * N + 1e-6, 1e-4, `dinp M=${M}`);
    }
  });
});

describe('matmul weight-gradient kernels', () => {
  const cases: Array<[KernelSpec<MatmulBackwardLaunch>, [number, number, number]]> = [
    ...WEIGHT_GRAD_SHAPES.map((s) => [matmulTile64WeightGradKernel, s] as [KernelSpec<MatmulBackwardLaunch>, typeof s]),
    ...[...WEIGHT_GRAD_SHAPES, ...REGTILE_WEIGHT_GRAD_SHAPES]
      .filter(([M, N, K]) => N % 4 === 0 && K % 4 === 0 && M > 0)
      .map((s) => [matmulReg4x4WeightGradKernel, s] as [KernelSpec<MatmulBackwardLaunch>, typeof s]),
  ];
  for (const [kernel, [M, N, K]] of cases)
  for (const { accumulate, scale } of VARIANTS) {
    it(`${kernel.name} matches the CPU reference at M=${M} N=${N} K=${K} scale=${scale}${accumulate ? ' accumulating' : ''}`, async () => {
      const dout = randomArray(M * N, 5 + M * N, -1, 1);
      const inp = randomArray(M * K, 13 + M * K, -1, 1);
      const init = randomArray(N * K, 17 + N * K, -2, 2);
      const got = await runAndRead(kernel, { M, N, K, scale, accumulate }, init, dout, inp, [M, N], [M, K]);
      const want = matmulWeightGradRef(dout, inp, M, N, K, scale, accumulate ? init : null);
      expectClose(got, want, 2e-6 * M + 1e-6, 1e-4, 'dweight');
    });
  }

  it('gives bit-identical results on repeated runs, through the launcher', async () => {
    const ctx = await gpu();
    const [M, N, K] = [300, 16, 70];
    const dout = createTensor(ctx, [M, N], 'f32', randomArray(M * N, 21, -1, 1));
    const inp = createTensor(ctx, [M, K], 'f32', randomArray(M * K, 22, -1, 1));
    const runs: Float32Array[] = [];
    for (let i = 0; i < 3; i++) {
      const dw = createTensor(ctx, [N, K], 'f32');
      const rec = new Recorder(ctx);
      matmulWeightGrad(rec, dw, dout, inp, { M, N, K, scale: 0.5 });
      rec.submit();
      runs.push(await readTensor(ctx, dw));
    }
    expect(Array.from(runs[1])).toEqual(Array.from(runs[0]));
    expect(Array.from(runs[2])).toEqual(Array.from(runs[0]));
  });
});

describe('matmul backward launchers', () => {
  it('reject tensors smaller than the dimensions', async () => {
    const ctx = await gpu();
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    const rec = new Recorder(ctx);
    const dims = { M: 2, N: 3, K: 4 };
    expect(() => matmulBackward(rec, t(7), t(6), t(12), dims)).toThrow(/matmul_backward: dinp has 7 elements, needs 8/);
    expect(() => matmulBackward(rec, t(8), t(5), t(12), dims)).toThrow(/dout has 5 elements, needs 6/);
    expect(() => matmulBackward(rec, t(8), t(6), t(11), dims)).toThrow(/weight has 11 elements, needs 12/);
    expect(() => matmulWeightGrad(rec, t(11), t(6), t(8), dims)).toThrow(/matmul_weight_grad: dweight has 11 elements, needs 12/);
    expect(() => matmulWeightGrad(rec, t(12), t(5), t(8), dims)).toThrow(/dout has 5 elements, needs 6/);
    expect(() => matmulWeightGrad(rec, t(12), t(6), t(7), dims)).toThrow(/inp has 7 elements, needs 8/);
    rec.submit();
    expect(matmulTile64BackwardKernel.formats.f32.constants?.({ M: 1, N: 1, K: 1, scale: 1, accumulate: true })).toEqual({ ACCUMULATE: 1, HAS_LORA: 0, SPLIT_N: 0 });
  });
});
