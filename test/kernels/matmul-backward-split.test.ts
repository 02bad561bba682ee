// matmulBackward with its reduction over n split across workgroups (matmul_tile64_backward's SPLIT_N,
// then matmul_split_reduce), the real-GPU path of the LM head's dh = dlogits·E (few output tiles,
// a long sum over the vocabulary): run on this device under the tiled (GPU) policy (test/helpers.ts
// tiledKernels). Against the CPU reference and the unsplit launch, at awkward shapes (a last slice
// shorter than the others; M and K not multiples of the 64 × 64 tiles), overwriting and
// accumulating, scale ≠ 1, f16 weights, and scratch that limits the split; then the policy
// (backwardSplits) and the launcher's checks. Barriers are slow on SwiftShader: the shapes stay small.
import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../src/gpu/f16.js';
import { Recorder } from '../../src/gpu/kernel.js';
import { matmulBackward } from '../../src/gpu/kernels/matmul/backward.js';
import { backwardSplits, MIN_N_PER_SPLIT } from '../../src/gpu/kernels/matmul/select.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { tiledKernels, barrierFreeKernels, expectClose, gpu, randomArray } from '../helpers.js';
import { matmulBackwardRef } from '../ref/matmul-backward.js';

describe('matmulBackward split over n (GPU kernels)', () => {
  // [M, N, K, partials elements, slices]: 2 slices (576 + 524); 4 slices (544, 544, 544, 448);
  // scratch for 2 of those 4.
  const CASES: Array<[number, number, number, number, number]> = [
    [20, 1100, 40, 1 << 16, 2],
    [70, 2080, 72, 1 << 16, 4],
    [70, 2080, 72, 2 * 70 * 72 + 5, 2],
  ];
  const VARIANTS = [
    { accumulate: false, scale: 1, f16: false },
    { accumulate: true, scale: -0.5, f16: true },
  ];
  for (const [M, N, K, scratch, slices] of CASES)
  for (const { accumulate, scale, f16 } of VARIANTS) {
    it(`matches the reference and the unsplit launch at M=${M} N=${N} K=${K}, ${scratch} elements of scratch, scale ${scale}${accumulate ? ', accumulating' : ''}${f16 ? ', f16 weight' : ''}`, async () => {
      const ctx = tiledKernels(await gpu());
      const S = backwardSplits(ctx.policy, { M, N, K }, scratch);
      expect(S).toBe(slices);
      const seed = M + N + K;
      const dout = randomArray(M * N, seed + 1, -1, 1);
      const w = randomArray(N * K, seed + 2, -1, 1);
      const init = randomArray(M * K, seed + 3, -2, 2);
      const [doutT, W] = [createTensor(ctx, [M, N], 'f32', dout), createTensor(ctx, [N, K], f16 ? 'f16' : 'f32', w)];
      const [split, unsplit] = [createTensor(ctx, [M, K], 'f32', init), createTensor(ctx, [M, K], 'f32', init)];
      const partials = createTensor(ctx, [scratch], 'f32');
      const rec = new Recorder(ctx);
      matmulBackward(rec, split, doutT, W, { M, N, K, scale, accumulate }, partials);
      matmulBackward(rec, unsplit, doutT, W, { M, N, K, scale, accumulate });
      rec.submit();
      const got = await readTensor(ctx, split);
      const want = matmulBackwardRef(dout, f16 ? Float32Array.from(w, roundToF16) : w, M, N, K, scale, accumulate ? init : null);
      expectClose(got, want, 2e-6 * N + 1e-6, 1e-4, 'split dinp');
      expectClose(got, await readTensor(ctx, unsplit), 2e-6 * N + 1e-6, 1e-4, 'split vs unsplit');
    });
  }

  it('splits only long sums into few tiles of the 64 × 64 kernel, on real GPUs', async () => {
    const ctx = await gpu();
    const nvidia = tiledKernels(ctx);
    const plenty = 1 << 24;
    // The LM head's backward at SmolLM2-135M's widths: 64 rows, 49,152 n, 576 columns (9 tiles).
    expect(backwardSplits(nvidia.policy, { M: 64, N: 49152, K: 576 }, plenty)).toBe(28);
    expect(backwardSplits(nvidia.policy, { M: 64, N: 49152, K: 576 }, 10 * 64 * 576)).toBe(10); // scratch-bound
    expect(backwardSplits(barrierFreeKernels(ctx).policy, { M: 64, N: 49152, K: 576 }, plenty)).toBe(1); // barrier-free kernels
    expect(backwardSplits(nvidia.policy, { M: 8, N: 49152, K: 576 }, plenty)).toBe(1); // the scalar reg4x4 kernel
    // 256 rows (the logits chunk's least) would be 2 × 5 tiles of 128 × 128: split over 64 × 64 tiles.
    expect(backwardSplits(nvidia.policy, { M: 256, N: 49152, K: 576 }, plenty)).toBe(7);
    expect(backwardSplits(nvidia.policy, { M: 2048, N: 49152, K: 2048 }, plenty)).toBe(1); // 16 × 16 tiles of 128 × 128
    expect(backwardSplits(nvidia.policy, { M: 2048, N: 49152, K: 200 }, plenty)).toBe(1); // 32 × 4 tiles: enough workgroups
    expect(backwardSplits(nvidia.policy, { M: 64, N: 2 * MIN_N_PER_SPLIT - 1, K: 576 }, plenty)).toBe(1); // a short sum
  });

  it('refuses partials that share a buffer with an operand', async () => {
    const ctx = tiledKernels(await gpu());
    const [dinp, dout, w] = [createTensor(ctx, [20 * 40 * 4], 'f32'), createTensor(ctx, [20, 1100], 'f32'), createTensor(ctx, [1100, 40], 'f32')];
    const rec = new Recorder(ctx);
    expect(() => matmulBackward(rec, dinp.view(0, [20, 40]), dout, w, { M: 20, N: 1100, K: 40 }, dinp.view(20 * 40 * 2, [20 * 40 * 2]))).toThrow(
      /matmul_backward: the partials share a buffer with dinp \(M=20 N=1100 K=40\)/,
    );
    rec.submit();
  });
});
