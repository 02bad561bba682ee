// The fused LoRA launches: matmulLoraForward, out = x·Wᵀ (+ b) + s·u·Bᵀ in one launch, and
// matmulLoraBackward, dx (+)= dy·W + du·A in one launch, on both kernel paths: the barrier-free
// kernels (matmul_reg4x4_*, SwiftShader's) and the real-GPU kernels (matmul_tile64_forward /
// matmul_tile64_backward, matmul_tile128_* from 256 × 256), each policy injected on
// this device (test/helpers.ts tiledKernels, barrierFreeKernels). Each must give exactly the bits of the separate
// launches it replaces (matmulForward then loraForward; matmulBackward then matmulBackward(du, A)
// accumulating), so the fused and the separate results are compared with toEqual, and both against
// the CPU reference with the usual tolerance. Shapes are small and awkward: M and N not multiples
// of the blocks or tiles, one row (barrier-free; on the GPU path a few rows take the scalar reg4x4 kernels,
// which have no fused form), R = 4 and 16 (and 2 and 1 backward, where R is read as scalars), with
// and without a bias, f32 and f16 weights, overwriting and accumulating. Then linearForward /
// linearBackward, fused and not (loraFusion), give the same bits with one launch less each.
import { afterEach, describe, expect, it } from 'vitest';
import { roundToF16 } from '../../src/gpu/f16.js';
import { diffRecordStats, Recorder, recordStats } from '../../src/gpu/kernel.js';
import { loraForward } from '../../src/gpu/kernels/lora.js';
import { canFuseLoraBackward, matmulBackward, matmulLoraBackward } from '../../src/gpu/kernels/matmul/backward.js';
import { canFuseLoraForward, matmulForward, matmulLoraForward } from '../../src/gpu/kernels/matmul/forward.js';
import { FEW_ROWS } from '../../src/gpu/kernels/matmul/tiles.js';
import { createTensor, readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { linearBackward, linearForward, loraFusion } from '../../src/model/linear.js';
import { tiledKernels, barrierFreeKernels, expectClose, gpu, randomArray } from '../helpers.js';
import { readSentinelOutput, sentinelOutput } from './sentinel-output.js';
import { loraForwardRef } from '../ref/lora.js';
import { matmulBackwardRef } from '../ref/matmul-backward.js';
import { matmulForwardRef } from '../ref/matmul.js';


type Ctx = Awaited<ReturnType<typeof gpu>>;

/** The two kernel paths, and the shapes each is tested at: [M, N, K, R] forward and backward. */
const PATHS: Array<{ name: string; pose: (ctx: Ctx) => Ctx; forward: number[][]; backward: number[][] }> = [
  {
    name: 'barrier-free kernels',
    pose: barrierFreeKernels,
    forward: [[1, 1, 4, 4], [5, 7, 8, 4], [13, 10, 12, 16], [66, 17, 36, 16]],
    backward: [[1, 2, 4, 4], [5, 7, 8, 1], [13, 10, 12, 16], [66, 17, 36, 16], [9, 33, 20, 2]],
  },
  {
    // 64 × 64 tiles (any K), and the 128 × 128 tiles at the last shape.
    name: 'GPU kernels',
    pose: tiledKernels,
    forward: [[9, 7, 6, 4], [13, 10, 12, 16], [66, 17, 36, 16], [260, 264, 256, 16]],
    backward: [[9, 7, 6, 1], [13, 10, 12, 16], [66, 17, 36, 16], [9, 33, 20, 2], [258, 260, 256, 16]],
  },
];



const weightOf = (w: Float32Array, f16: boolean) => (f16 ? Float32Array.from(w, roundToF16) : w);

for (const path of PATHS)
describe(`matmulLoraForward, ${path.name}`, () => {
  for (const [M, N, K, R] of path.forward)
  for (const withBias of [false, true])
  for (const f16 of [false, true]) {
    if (M >= 256 && withBias !== f16) continue; // the 128 × 128 tiles are slow here: two variants
    it(`equals matmulForward + loraForward bit for bit at M=${M} N=${N} K=${K} R=${R}${withBias ? ', bias' : ''}${f16 ? ', f16 weight' : ''}`, async () => {
      const ctx = path.pose(await gpu());
      const seed = M * 1000 + N * 10 + K + R;
      const scale = 1.75;
      const x = randomArray(M * K, seed + 1, -1, 1);
      const w = randomArray(N * K, seed + 2, -1, 1);
      const b = withBias ? randomArray(N, seed + 3, -1, 1) : null;
      const u = randomArray(M * R, seed + 4, -1, 1);
      const B = randomArray(N * R, seed + 5, -1, 1);
      const [xT, uT, BT] = [createTensor(ctx, [M, K], 'f32', x), createTensor(ctx, [M, R], 'f32', u), createTensor(ctx, [N, R], 'f32', B)];
      const W = createTensor(ctx, [N, K], f16 ? 'f16' : 'f32', w);
      const bias = b ? createTensor(ctx, [N], 'f32', b) : null;
      const fused = sentinelOutput(ctx, M * N);
      const separate = sentinelOutput(ctx, M * N);
      const rec = new Recorder(ctx);
      expect(canFuseLoraForward(rec, { M, K, R })).toBe(true);
      matmulLoraForward(rec, fused, xT, W, bias, uT, BT, { M, N, K, R, scale });
      matmulForward(rec, separate, xT, W, bias, { M, N, K });
      loraForward(rec, separate, uT, BT, { M, N, R, scale });
      rec.submit();
      const got = await readSentinelOutput(ctx, fused, M * N);
      expect(got).toEqual(await readSentinelOutput(ctx, separate, M * N));
      const want = loraForwardRef(matmulForwardRef(x, weightOf(w, f16), b, M, N, K), u, B, M, N, R, scale);
      expectClose(got, want, 4e-6 * (K + R) + 1e-6, 1e-4, 'out');
    });
  }
});

for (const path of PATHS)
describe(`matmulLoraBackward, ${path.name}`, () => {
  const VARIANTS = [
    { accumulate: false, scale: 1 },
    { accumulate: true, scale: 1 },
    { accumulate: true, scale: -0.75 },
  ];
  for (const [M, N, K, R] of path.backward)
  for (const { accumulate, scale } of VARIANTS)
  for (const f16 of [false, true]) {
    if (M >= 256 && accumulate !== f16) continue; // the 128 × 128 tiles are slow here: three variants
    it(`equals matmulBackward twice bit for bit at M=${M} N=${N} K=${K} R=${R} scale=${scale}${accumulate ? ', accumulating' : ''}${f16 ? ', f16 weight' : ''}`, async () => {
      const ctx = path.pose(await gpu());
      const seed = M * 1000 + N * 10 + K + R;
      const dy = randomArray(M * N, seed + 1, -1, 1);
      const w = randomArray(N * K, seed + 2, -1, 1);
      const du = randomArray(M * R, seed + 3, -1, 1);
      const A = randomArray(R * K, seed + 4, -1, 1);
      const init = randomArray(M * K, seed + 5, -2, 2);
      const [dyT, duT, AT] = [createTensor(ctx, [M, N], 'f32', dy), createTensor(ctx, [M, R], 'f32', du), createTensor(ctx, [R, K], 'f32', A)];
      const W = createTensor(ctx, [N, K], f16 ? 'f16' : 'f32', w);
      const fused = sentinelOutput(ctx, M * K, init);
      const separate = sentinelOutput(ctx, M * K, init);
      const rec = new Recorder(ctx);
      expect(canFuseLoraBackward(rec, { M, N, K, R }, W, dyT)).toBe(true);
      matmulLoraBackward(rec, fused, dyT, W, duT, AT, { M, N, K, R, scale, accumulate });
      matmulBackward(rec, separate, dyT, W, { M, N, K, scale, accumulate });
      matmulBackward(rec, separate, duT, AT, { M, N: R, K, accumulate: true });
      rec.submit();
      const got = await readSentinelOutput(ctx, fused, M * K);
      expect(got).toEqual(await readSentinelOutput(ctx, separate, M * K));
      const base = matmulBackwardRef(dy, weightOf(w, f16), M, N, K, scale, accumulate ? init : null);
      expectClose(got, matmulBackwardRef(du, A, M, R, K, 1, base), 4e-6 * (N + R) + 1e-6, 1e-4, 'dinp');
    });
  }
});

describe('the fused launchers', () => {
  it('fit only the shapes their separate launches would run on the barrier-free kernels', async () => {
    const ctx = barrierFreeKernels(await gpu());
    const rec = new Recorder(ctx);
    const t = (n: number, dtype: 'f32' | 'f16' = 'f32') => createTensor(ctx, [n], dtype);
    expect(canFuseLoraForward(rec, { M: 2, K: 8, R: 4 })).toBe(true);
    expect(canFuseLoraForward(rec, { M: 2, K: 6, R: 4 })).toBe(false); // x·Wᵀ on matmul_reg4x4_scalar_forward
    expect(canFuseLoraForward(rec, { M: 2, K: 8, R: 2 })).toBe(false); // the update on lora_forward
    expect(canFuseLoraBackward(rec, { M: 2, N: 3, K: 8, R: 2 }, t(24), t(6))).toBe(true);
    expect(canFuseLoraBackward(rec, { M: 2, N: 3, K: 6, R: 2 }, t(18), t(6))).toBe(false); // K not a multiple of 4
    expect(canFuseLoraBackward(rec, { M: 2, N: 0, K: 8, R: 2 }, t(1), t(1))).toBe(false); // dy·W of no terms
    // An f16 weight of 4 halves (8 bytes) and a dy of one element cannot fill a vec4<f32> slot.
    expect(canFuseLoraBackward(rec, { M: 1, N: 1, K: 4, R: 4 }, t(4, 'f16'), t(1))).toBe(false);
    expect(() => matmulLoraForward(rec, t(6), t(12), t(18), null, t(8), t(12), { M: 2, N: 3, K: 6, R: 4, scale: 1 })).toThrow(/matmul_lora_forward: not on this device or at M=2 K=6 R=4/);
    expect(() => matmulLoraForward(rec, t(6), t(16), t(24), null, t(7), t(12), { M: 2, N: 3, K: 8, R: 4, scale: 1 })).toThrow(/matmul_lora_forward: u has 7 elements, needs 8/);
    expect(() => matmulLoraBackward(rec, t(16), t(6), t(24), t(4), t(15), { M: 2, N: 3, K: 8, R: 2 })).toThrow(/matmul_lora_backward: loraA has 15 elements, needs 16/);
    expect(() => matmulLoraBackward(rec, t(16), t(6), t(24), t(3), t(16), { M: 2, N: 3, K: 8, R: 2 })).toThrow(/matmul_lora_backward: du has 3 elements, needs 4/);
    expect(() => matmulLoraBackward(rec, t(12), t(6), t(18), t(4), t(12), { M: 2, N: 3, K: 6, R: 2 })).toThrow(/matmul_lora_backward: not on this device or at M=2 N=3 K=6 R=2/);
    rec.submit();
  });

  it('fit more than FEW_ROWS rows on the GPU kernels (any K; R a multiple of 4 forward)', async () => {
    const ctx = tiledKernels(await gpu());
    const rec = new Recorder(ctx);
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    expect(canFuseLoraForward(rec, { M: FEW_ROWS + 1, K: 6, R: 4 })).toBe(true);
    expect(canFuseLoraForward(rec, { M: FEW_ROWS, K: 8, R: 4 })).toBe(false); // x·Wᵀ on matmul_reg4x4_scalar_forward
    expect(canFuseLoraForward(rec, { M: 64, K: 8, R: 2 })).toBe(false); // the update on lora_forward
    expect(canFuseLoraBackward(rec, { M: FEW_ROWS + 1, N: 3, K: 6, R: 2 }, t(18), t(27))).toBe(true);
    expect(canFuseLoraBackward(rec, { M: FEW_ROWS, N: 3, K: 8, R: 2 }, t(24), t(24))).toBe(false);
    expect(canFuseLoraBackward(rec, { M: 64, N: 0, K: 8, R: 2 }, t(1), t(1))).toBe(false);
    expect(() => matmulLoraForward(rec, t(24), t(64), t(24), null, t(32), t(12), { M: 8, N: 3, K: 8, R: 4, scale: 1 })).toThrow(/matmul_lora_forward: not on this device or at M=8 K=8 R=4/);
    rec.submit();
  });
});

for (const path of PATHS)
describe(`linearForward + linearBackward, fused and not, ${path.name}`, () => {
  afterEach(() => {
    loraFusion.enabled = true;
  });
  // [M, N, K, R, scale]; R = 2 fuses the backward pass only. The accumulating runs have a bias,
  // an f16 weight, and dx, dA, dB pre-filled. (More than FEW_ROWS rows: the GPU path fuses.)
  const CASES: Array<[number, number, number, number, number]> = [
    [11, 33, 20, 4, 0.5],
    [70, 65, 68, 16, 4],
    [9, 6, 8, 2, 2],
  ];
  for (const [M, N, K, R, scale] of CASES)
  for (const accumulate of [false, true]) {
    it(`give the same bits with ${R % 4 ? 1 : 2} launches less at M=${M} N=${N} K=${K} R=${R}${accumulate ? ' (bias, f16 weight, accumulating)' : ''}`, async () => {
      const ctx = path.pose(await gpu());
      const seed = M * 1000 + N * 10 + K + R;
      const T = (shape: number[], data?: Float32Array) => createTensor(ctx, shape, 'f32', data);
      const x = T([M, K], randomArray(M * K, seed + 1, -1, 1));
      const W = createTensor(ctx, [N, K], accumulate ? 'f16' : 'f32', randomArray(N * K, seed + 2, -1, 1));
      const bias = accumulate ? T([N], randomArray(N, seed + 3, -1, 1)) : undefined;
      const A = T([R, K], randomArray(R * K, seed + 4, -0.5, 0.5));
      const B = T([N, R], randomArray(N * R, seed + 5, -0.5, 0.5));
      const dy = T([M, N], randomArray(M * N, seed + 6, -1, 1));
      const init = (n: number, s: number) => (accumulate ? randomArray(n, seed + s, -2, 2) : new Float32Array(n));

      async function run(fuse: boolean) {
        loraFusion.enabled = fuse;
        const [dA, dB] = [T([R, K], init(R * K, 7)), T([N, R], init(N * R, 8))];
        const [out, u, du, dx] = [T([M, N]), T([M, R]), T([M, R]), T([M, K], init(M * K, 9))];
        const lora = { R, scale, A, B, dA, dB, computesU: true };
        const rec = new Recorder(ctx);
        const before = recordStats(ctx);
        linearForward(rec, { out, input: x, weight: W, bias, lora, u, dims: { M, N, K } });
        const forward = diffRecordStats(recordStats(ctx), before).dispatches;
        linearBackward(rec, { dinput: dx, dout: dy, input: x, weight: W, lora, u, du, dims: { M, N, K }, accumulate });
        const backward = diffRecordStats(recordStats(ctx), before).dispatches - forward;
        rec.submit();
        const read = async (t: Tensor<'f32'>) => readTensor(ctx, t);
        return { forward, backward, out: await read(out), u: await read(u), du: await read(du), dx: await read(dx), dA: await read(dA), dB: await read(dB) };
      }
      const separate = await run(false);
      const fused = await run(true);
      expect([separate.forward, separate.backward]).toEqual([3, 5]);
      expect([fused.forward, fused.backward]).toEqual([R % 4 ? 3 : 2, 4]);
      for (const k of ['out', 'u', 'du', 'dx', 'dA', 'dB'] as const) expect(fused[k], k).toEqual(separate[k]);
      expect(fused.dx.some((v, i) => v !== init(M * K, 9)[i])).toBe(true);
    });
  }
});
