import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { loraForward, loraForwardKernel } from '../../src/gpu/kernels/lora.js';
import { matmulReg4x4ForwardKernel } from '../../src/gpu/kernels/matmul/forward.js';
import { linearBackward, linearForward } from '../../src/model/linear.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { dropoutMaskRef } from '../ref/dropout.js';
import { loraForwardRef, loraLinearBackwardRef, loraLinearForwardRef, type LoraRefDims } from '../ref/lora.js';
import { writeDropoutStep } from '../../src/gpu/kernels/dropout.js';

const SENTINEL = 12345;
const PAD = 80;

describe('LoRA CPU reference', () => {
  // The oracle for the GPU backward pass is checked once against central differences of the CPU
  // forward pass, all in f64: L = Σ out ⊙ G for a fixed random G, so dout = G.
  // With a dropout mask (0 or 1/(1 − p) per element of x), the same check covers LoRA dropout.
  for (const dropout of [false, true])
  it(`backward matches finite differences of the forward pass${dropout ? ', with a dropout mask' : ''}`, () => {
    const dims: LoraRefDims = { M: 3, N: 4, K: 5, R: 2, scale: 0.7 };
    const { M, N, K, R, scale } = dims;
    const f64 = (n: number, seed: number) => Float64Array.from(randomArray(n, seed, -1, 1));
    const x = f64(M * K, 1);
    const W = f64(N * K, 2);
    const b = f64(N, 3);
    const A = f64(R * K, 4);
    const B = f64(N * R, 5);
    const G = f64(M * N, 6);
    const mask = dropout ? dropoutMaskRef(M * K, 0.4, { seed: 1, step: 2, stream: 3 }) : undefined;
    if (mask) expect(mask.some((v) => v === 0) && mask.some((v) => v > 1)).toBe(true);
    const loss = (out: Float64Array) => out.reduce((s, v, i) => s + v * G[i], 0);
    const lossOf = () => loss(loraLinearForwardRef(x, W, b, A, B, dims, mask).out);
    const { u } = loraLinearForwardRef(x, W, b, A, B, dims, mask);
    const grads = loraLinearBackwardRef(G, x, u, W, A, B, dims, {}, mask);

    const h = 1e-4;
    const numeric = (param: Float64Array, f: () => number) =>
      Float64Array.from(param, (v, i) => {
        param[i] = v + h;
        const up = f();
        param[i] = v - h;
        const down = f();
        param[i] = v;
        return (up - down) / (2 * h);
      });
    expectClose(grads.dx, numeric(x, lossOf), 1e-8, 1e-7, 'dx');
    expectClose(grads.dA, numeric(A, lossOf), 1e-8, 1e-7, 'dA');
    expectClose(grads.dB, numeric(B, lossOf), 1e-8, 1e-7, 'dB');
    // du is ∂L/∂u with u held as an input of out = x·Wᵀ + b + s·u·Bᵀ.
    const base = loraLinearForwardRef(x, W, b, A, B, { ...dims, scale: 0 }).out;
    const uVar = Float64Array.from(u);
    expectClose(grads.du, numeric(uVar, () => loss(loraForwardRef(base, uVar, B, M, N, R, scale))), 1e-8, 1e-7, 'du');
    expect(grads.dB.some((v) => v !== 0) && grads.dA.some((v) => v !== 0)).toBe(true);
  });
});

describe('lora_forward', () => {
  // 4 × 4 blocks per invocation: M and N below, at and past a block, R = 1, 4, 16 and 64.
  const SHAPES: Array<[number, number, number]> = [
    [1, 1, 1],
    [5, 7, 4],
    [3, 130, 1],
    [70, 33, 16],
    [300, 5, 4],
    [9, 20, 64],
  ];
  // Both kernels explicitly (matmul_reg4x4_forward, accumulating and scaled, only where R is a
  // multiple of 4), and the launcher.
  const kernels = ['lora_forward', 'matmul_reg4x4_forward', 'loraForward'] as const;
  for (const [M, N, R] of SHAPES)
  for (const kernel of kernels.filter((k) => k !== 'matmul_reg4x4_forward' || R % 4 === 0)) {
    it(`${kernel} adds scale·u·Bᵀ in place at M=${M} N=${N} R=${R}`, async () => {
      const ctx = await gpu();
      const scale = 1.75;
      const out0 = randomArray(M * N, 3 + M * N, -2, 2);
      const u = randomArray(M * R, 5 + M * R, -1, 1);
      const B = randomArray(N * R, 7 + N * R, -1, 1);
      const data = new Float32Array(M * N + PAD).fill(SENTINEL);
      data.set(out0);
      const out = createTensor(ctx, [data.length], 'f32', data);
      const rec = new Recorder(ctx);
      const uT = createTensor(ctx, [M, R], 'f32', u);
      const bT = createTensor(ctx, [N, R], 'f32', B);
      if (kernel === 'lora_forward') rec.run(loraForwardKernel, { M, N, R, scale }, [out, uT, bT]);
      else if (kernel === 'matmul_reg4x4_forward') rec.run(matmulReg4x4ForwardKernel.formats.f32, { M, N, K: R, hasBias: false, accumulate: true, scale }, [out, uT, bT, bT, bT, bT]);
      else loraForward(rec, out, uT, bT, { M, N, R, scale });
      rec.submit();
      const got = await readTensor(ctx, out);
      expectClose(got.subarray(0, M * N), loraForwardRef(out0, u, B, M, N, R, scale), 4e-6 * R + 1e-6, 1e-4, 'out');
      expect(Array.from(got.subarray(M * N)).every((v) => v === SENTINEL), 'elements past M·N untouched').toBe(true);
    });
  }

  it('rejects tensors smaller than the dimensions', async () => {
    const ctx = await gpu();
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    const rec = new Recorder(ctx);
    const dims = { M: 2, N: 3, R: 4, scale: 1 };
    expect(() => loraForward(rec, t(5), t(8), t(12), dims)).toThrow(/lora_forward: out has 5 elements, needs 6/);
    expect(() => loraForward(rec, t(6), t(7), t(12), dims)).toThrow(/u has 7 elements, needs 8/);
    expect(() => loraForward(rec, t(6), t(8), t(11), dims)).toThrow(/loraB has 11 elements, needs 12/);
    rec.submit();
  });
});

describe('LoRA linear forward + backward', () => {
  // Shapes cover one row, R = 1, 4 and 16, sizes that are not multiples of any tile, the scalar reg4x4
  // and tiled backward kernels (M ≤ 8 and M > 8), and M = 300 (ten chunks of the weight-gradient
  // reduction). Each runs overwriting without a bias, and accumulating (dx, dA, dB pre-filled)
  // with a bias.
  const CASES: LoraRefDims[] = [
    { M: 1, N: 5, K: 3, R: 1, scale: 2 },
    { M: 7, N: 33, K: 20, R: 4, scale: 0.5 },
    { M: 37, N: 70, K: 45, R: 4, scale: 2 },
    { M: 300, N: 24, K: 40, R: 16, scale: 1 / 16 },
    { M: 70, N: 65, K: 66, R: 16, scale: 4 },
  ];
  for (const dims of CASES)
  for (const accumulate of [false, true]) {
    const { M, N, K, R, scale } = dims;
    it(`matches the CPU reference at M=${M} N=${N} K=${K} R=${R} scale=${scale}${accumulate ? ' with bias, accumulating' : ''}`, async () => {
      const ctx = await gpu();
      const seed = M * 1000 + N * 10 + K + R;
      const x = randomArray(M * K, seed + 1, -1, 1);
      const W = randomArray(N * K, seed + 2, -1, 1);
      const b = accumulate ? randomArray(N, seed + 3, -1, 1) : null;
      const A = randomArray(R * K, seed + 4, -0.5, 0.5);
      const B = randomArray(N * R, seed + 5, -0.5, 0.5);
      const dOut = randomArray(M * N, seed + 6, -1, 1);
      const init = {
        dx: randomArray(M * K, seed + 7, -2, 2),
        dA: randomArray(R * K, seed + 8, -2, 2),
        dB: randomArray(N * R, seed + 9, -2, 2),
      };
      const T = (shape: number[], data?: Float32Array) => createTensor(ctx, shape, 'f32', data);
      const out = T([M, N], randomArray(M * N, seed + 10, -3, 3)); // overwritten
      const u = T([M, R], randomArray(M * R, seed + 11, -3, 3)); // overwritten
      const du = T([M, R], randomArray(M * R, seed + 12, -3, 3)); // overwritten
      const dx = T([M, K], init.dx);
      // linearBackward always adds into dA and dB (the trainer zeroes them once per step).
      const dA = T([R, K], accumulate ? init.dA : new Float32Array(R * K));
      const dB = T([N, R], accumulate ? init.dB : new Float32Array(N * R));
      const [xT, WT, AT, BT] = [T([M, K], x), T([N, K], W), T([R, K], A), T([N, R], B)];

      const rec = new Recorder(ctx);
      const lora = { R, scale, A: AT, B: BT, dA, dB, computesU: true };
      linearForward(rec, { out, input: xT, weight: WT, bias: b ? T([N], b) : undefined, lora, u, dims: { M, N, K } });
      linearBackward(rec, { dinput: dx, dout: T([M, N], dOut), input: xT, weight: WT, lora, u, du, dims: { M, N, K }, accumulate });
      rec.submit();

      const fwd = loraLinearForwardRef(x, W, b, A, B, dims);
      const bwd = loraLinearBackwardRef(dOut, x, fwd.u, W, A, B, dims, accumulate ? init : {});
      const atol = (len: number) => 4e-6 * len + 1e-6;
      expectClose(await readTensor(ctx, u), fwd.u, atol(K), 1e-4, 'u');
      expectClose(await readTensor(ctx, out), fwd.out, atol(K + R), 1e-4, 'out');
      expectClose(await readTensor(ctx, du), bwd.du, atol(N), 1e-4, 'du');
      expectClose(await readTensor(ctx, dB), bwd.dB, atol(M), 1e-4, 'dB');
      expectClose(await readTensor(ctx, dA), bwd.dA, atol(M), 1e-4, 'dA');
      expectClose(await readTensor(ctx, dx), bwd.dx, atol(N + R), 1e-4, 'dx');
    });
  }
});

describe('LoRA linear forward + backward with dropout', () => {
  // The training pass drops x on the low-rank path with the hashed mask: u = (x ⊙ mask)·Aᵀ,
  // dA += duᵀ·(x ⊙ mask), dx += (du·A) ⊙ mask; the base path x·Wᵀ and dy·W are not dropped. The
  // scratch is larger than M·K, as the planned training buffer is (its widest projection).
  const CASES: Array<LoraRefDims & { p: number }> = [
    { M: 1, N: 5, K: 3, R: 1, scale: 2, p: 0.5 },
    { M: 37, N: 70, K: 45, R: 4, scale: 2, p: 0.1 },
    { M: 70, N: 65, K: 66, R: 16, scale: 4, p: 0.5 },
  ];
  for (const { p, ...dims } of CASES) {
    const { M, N, K, R, scale } = dims;
    it(`matches the CPU reference with the same mask at M=${M} N=${N} K=${K} R=${R} p=${p}`, async () => {
      const ctx = await gpu();
      const seed = M * 1000 + N * 10 + K + R;
      const key = { seed: 77, step: 5, stream: 9 };
      const x = randomArray(M * K, seed + 1, -1, 1);
      const W = randomArray(N * K, seed + 2, -1, 1);
      const b = randomArray(N, seed + 3, -1, 1);
      const A = randomArray(R * K, seed + 4, -0.5, 0.5);
      const B = randomArray(N * R, seed + 5, -0.5, 0.5);
      const dOut = randomArray(M * N, seed + 6, -1, 1);
      const init = { dx: randomArray(M * K, seed + 7, -2, 2), dA: randomArray(R * K, seed + 8, -2, 2), dB: randomArray(N * R, seed + 9, -2, 2) };
      const T = (shape: number[], data?: Float32Array) => createTensor(ctx, shape, 'f32', data);
      const [xT, WT, bT, AT, BT, dOutT] = [T([M, K], x), T([N, K], W), T([N], b), T([R, K], A), T([N, R], B), T([M, N], dOut)];
      const lora = { R, scale, A: AT, B: BT, dA: T([R, K], init.dA), dB: T([N, R], init.dB), computesU: true, dropout: { p, ...key } };
      const [out, u, du, dx] = [T([M, N]), T([M, R]), T([M, R]), T([M, K], init.dx)];
      const step = createTensor(ctx, [1], 'u32');
      writeDropoutStep(ctx, step, key.step);
      const pass = { step, scratch: T([M + 3, K + 5]) };

      const rec = new Recorder(ctx);
      linearForward(rec, { out, input: xT, weight: WT, bias: bT, lora, u, dims: { M, N, K }, pass });
      linearBackward(rec, { dinput: dx, dout: dOutT, input: xT, weight: WT, lora, u, du, dims: { M, N, K }, accumulate: true, pass });
      rec.submit();

      const mask = dropoutMaskRef(M * K, p, key);
      const fwd = loraLinearForwardRef(x, W, b, A, B, dims, mask);
      const bwd = loraLinearBackwardRef(dOut, x, fwd.u, W, A, B, dims, init, mask);
      const atol = (len: number) => 4e-6 * len + 1e-6;
      expectClose(await readTensor(ctx, u), fwd.u, atol(K), 1e-4, 'u');
      expectClose(await readTensor(ctx, out), fwd.out, atol(K + R), 1e-4, 'out');
      expectClose(await readTensor(ctx, du), bwd.du, atol(N), 1e-4, 'du');
      expectClose(await readTensor(ctx, lora.dB), bwd.dB, atol(M), 1e-4, 'dB');
      expectClose(await readTensor(ctx, lora.dA), bwd.dA, atol(M), 1e-4, 'dA');
      expectClose(await readTensor(ctx, dx), bwd.dx, atol(N + R), 1e-4, 'dx');
      // The mask mattered: without it dA is different.
      const plain = loraLinearBackwardRef(dOut, x, loraLinearForwardRef(x, W, b, A, B, dims).u, W, A, B, dims, init);
      expect(plain.dA.some((v, i) => Math.abs(v - bwd.dA[i]) > 1e-3)).toBe(true);
    });
  }

  it('drops nothing without a training pass (inference and evaluation)', async () => {
    const ctx = await gpu();
    const dims = { M: 9, N: 12, K: 10, R: 4, scale: 0.5 };
    const { M, N, K, R, scale } = dims;
    const x = randomArray(M * K, 1, -1, 1);
    const W = randomArray(N * K, 2, -1, 1);
    const A = randomArray(R * K, 3, -0.5, 0.5);
    const B = randomArray(N * R, 4, -0.5, 0.5);
    const T = (shape: number[], data?: Float32Array) => createTensor(ctx, shape, 'f32', data);
    const lora = { R, scale, A: T([R, K], A), B: T([N, R], B), dA: T([R, K]), dB: T([N, R]), computesU: true, dropout: { p: 0.5, seed: 1, stream: 2 } };
    const out = T([M, N]);
    const rec = new Recorder(ctx);
    linearForward(rec, { out, input: T([M, K], x), weight: T([N, K], W), lora, u: T([M, R]), dims: { M, N, K } });
    rec.submit();
    expectClose(await readTensor(ctx, out), loraLinearForwardRef(x, W, null, A, B, dims).out, 4e-6 * (K + R) + 1e-6, 1e-4, 'out');
  });
});
