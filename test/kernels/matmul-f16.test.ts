// The matmul kernels that read a frozen weight, with the weight stored as f16 (two halves per
// 32-bit word; each kernel composed with the f16 weight reader, weight-format.ts): out = x·Wᵀ (+ b)
// with matmul_tile64_forward, matmul_reg4x4_scalar_forward and matmul_reg4x4_forward, and
// dx = dy·W with matmul_tile64_backward, matmul_reg4x4_scalar_backward and matmul_reg4x4_backward. Each kernel is named explicitly (whatever
// the device's policy would pick) and checked against the CPU reference applied to the
// f16-rounded weight, with the f32 tests' tolerance: the products and sums stay f32, only the
// weight's storage changes. The shapes are small and awkward: M, N, K not multiples of the tiles,
// odd K and an odd number of weight elements (a last word half used) where the kernel allows it.
import { describe, expect, it } from 'vitest';
import { Recorder, type KernelSpec } from '../../src/gpu/kernel.js';
import {
  matmulBackward,
  matmulReg4x4BackwardKernel,
  matmulReg4x4ScalarBackwardKernel,
  matmulTile64BackwardKernel,
  reg4x4Dout4,
  type MatmulBackwardWeightLaunch,
} from '../../src/gpu/kernels/matmul/backward.js';
import {
  matmulForward,
  matmulReg4x4ForwardKernel,
  matmulReg4x4ScalarForwardKernel,
  matmulTile64ForwardKernel,
  type MatmulLaunch,
} from '../../src/gpu/kernels/matmul/forward.js';
import type { WeightKernel } from '../../src/gpu/kernels/weight-format.js';
import { roundToF16 } from '../../src/gpu/f16.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { readSentinelOutput, sentinelOutput } from './sentinel-output.js';
import { matmulBackwardRef } from '../ref/matmul-backward.js';
import { matmulForwardRef } from '../ref/matmul.js';

const rounded = (w: Float32Array) => Float32Array.from(w, roundToF16);



describe('matmul forward kernels with an f16 weight', () => {
  const cases: Array<[WeightKernel<MatmulLaunch>, Array<[number, number, number]>]> = [
    [matmulTile64ForwardKernel, [[5, 7, 3], [70, 66, 33]]],
    [matmulReg4x4ScalarForwardKernel, [[1, 1, 1], [5, 7, 3], [3, 65, 33]]],
    [matmulReg4x4ForwardKernel, [[1, 2, 4], [5, 7, 4], [63, 17, 36]]],
  ];
  for (const [kernel, shapes] of cases)
  for (const [M, N, K] of shapes)
  for (const withBias of [false, true]) {
    it(`${kernel.name} at M=${M} N=${N} K=${K} ${withBias ? 'with' : 'without'} bias`, async () => {
      const ctx = await gpu();
      const x = randomArray(M * K, 3 + M * K, -1, 1);
      const w = randomArray(N * K, 11 + N * K, -1, 1);
      const b = withBias ? randomArray(N, 5 + N, -1, 1) : null;
      const weight = createTensor(ctx, [N, K], 'f16', w);
      const out = sentinelOutput(ctx, M * N);
      const rec = new Recorder(ctx);
      const bias = b ? createTensor(ctx, [N], 'f32', b) : weight;
      const inp = createTensor(ctx, [M, K], 'f32', x);
      const spec: KernelSpec<MatmulLaunch> = kernel.formats.f16;
      rec.run(spec, { M, N, K, hasBias: !!b }, [out, inp, weight, bias, inp, inp].slice(0, spec.bindings.length));
      rec.submit();
      const want = matmulForwardRef(x, rounded(w), b, M, N, K);
      expectClose(await readSentinelOutput(ctx, out, M * N), want, 2e-6 * K + 1e-6, 1e-4, 'out');
    });
  }
});

describe('matmul backward kernels with an f16 weight', () => {
  const cases: Array<[WeightKernel<MatmulBackwardWeightLaunch>, Array<[number, number, number]>]> = [
    [matmulTile64BackwardKernel, [[5, 7, 3], [70, 33, 66]]],
    [matmulReg4x4ScalarBackwardKernel, [[1, 1, 1], [5, 7, 3], [9, 1, 33]]],
    [matmulReg4x4BackwardKernel, [[1, 2, 4], [5, 7, 4], [66, 17, 36]]],
  ];
  for (const [kernel, shapes] of cases)
  for (const [M, N, K] of shapes)
  for (const { accumulate, scale } of [{ accumulate: false, scale: 1 }, { accumulate: true, scale: -0.75 }]) {
    it(`${kernel.name} at M=${M} N=${N} K=${K} scale=${scale}${accumulate ? ' accumulating' : ''}`, async () => {
      const ctx = await gpu();
      const dout = randomArray(M * N, 3 + M * N, -1, 1);
      const w = randomArray(N * K, 11 + N * K, -1, 1);
      const init = randomArray(M * K, 7 + M * K, -2, 2);
      const weight = createTensor(ctx, [N, K], 'f16', w);
      const dinp = sentinelOutput(ctx, M * K, init);
      const rec = new Recorder(ctx);
      const doutT = createTensor(ctx, [M, N], 'f32', dout);
      const filler = weight.byteLength >= 16 ? weight : doutT; // the unread dout4 slot: at least one vec4
      const bindings = [dinp, doutT, weight, doutT, filler, reg4x4Dout4(N, doutT, filler)];
      const spec: KernelSpec<MatmulBackwardWeightLaunch> = kernel.formats.f16;
      rec.run(spec, { M, N, K, scale, accumulate }, bindings.slice(0, spec.bindings.length));
      rec.submit();
      const want = matmulBackwardRef(dout, rounded(w), M, N, K, scale, accumulate ? init : null);
      expectClose(await readSentinelOutput(ctx, dinp, M * K), want, 2e-6 * N + 1e-6, 1e-4, 'dinp');
    });
  }
});

describe('matmul launchers and weight storage', () => {
  it('take an f16 weight whichever kernel the device gets, also one too small for the vec4 kernels', async () => {
    const ctx = await gpu();
    // [1, 1, 4]: an f16 weight of 4 elements (8 bytes) with a dout of 1 cannot fill the vec4 slots
    // matmul_reg4x4_backward leaves unread, so the launcher falls back to the scalar kernel.
    for (const [M, N, K] of [[1, 1, 4], [3, 5, 8], [12, 9, 7]]) {
      const x = randomArray(M * K, 1 + M, -1, 1);
      const dy = randomArray(M * N, 2 + M, -1, 1);
      const w = randomArray(N * K, 3 + M, -1, 1);
      const weight = createTensor(ctx, [N, K], 'f16', w);
      const out = createTensor(ctx, [M, N], 'f32');
      const dx = createTensor(ctx, [M, K], 'f32');
      const rec = new Recorder(ctx);
      matmulForward(rec, out, createTensor(ctx, [M, K], 'f32', x), weight, null, { M, N, K });
      matmulBackward(rec, dx, createTensor(ctx, [M, N], 'f32', dy), weight, { M, N, K });
      rec.submit();
      expectClose(await readTensor(ctx, out), matmulForwardRef(x, rounded(w), null, M, N, K), 2e-6 * K + 1e-6, 1e-4, `out M=${M} N=${N} K=${K}`);
      expectClose(await readTensor(ctx, dx), matmulBackwardRef(dy, rounded(w), M, N, K), 2e-6 * N + 1e-6, 1e-4, `dx M=${M} N=${N} K=${K}`);
    }
  });

  it('reject a weight that is neither f32 nor f16, and activations that are not f32, naming the kernel and tensor', async () => {
    const ctx = await gpu();
    const dims = { M: 2, N: 3, K: 4 };
    const t = (n: number, dtype: 'f32' | 'f16' | 'u32' = 'f32', label = '') => createTensor(ctx, [n], dtype, undefined, label);
    const rec = new Recorder(ctx);
    expect(() => matmulForward(rec, t(6), t(8), t(12, 'u32', 'layers.0.q'), null, dims)).toThrow(
      'matmul_forward: weight (layers.0.q) must be stored as f32 or f16, not u32',
    );
    expect(() => matmulForward(rec, t(6), t(8, 'f16'), t(12), null, dims)).toThrow('matmul_forward: inp must be f32, not f16');
    expect(() => matmulForward(rec, t(6), t(8), t(12), t(3, 'f16'), dims)).toThrow('matmul_forward: bias must be f32, not f16');
    expect(() => matmulBackward(rec, t(8), t(6), t(12, 'u32'), dims)).toThrow('matmul_backward: weight must be stored as f32 or f16, not u32');
    expect(() => matmulBackward(rec, t(8, 'f16', 'dx'), t(6), t(12), dims)).toThrow('matmul_backward: dinp (dx) must be f32, not f16');
    rec.submit();
    expect(matmulReg4x4ForwardKernel.formats.f16.code).toContain('// ---- weights/f16_vec4.wgsl ----');
    expect(matmulReg4x4ForwardKernel.formats.f32.code).toContain('// ---- weights/f32_vec4.wgsl ----');
    expect(matmulTile64BackwardKernel.formats.f16.code).toContain('// ---- weights/f16.wgsl ----');
  });
});
