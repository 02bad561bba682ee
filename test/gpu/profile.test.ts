// Per-kernel GPU times (src/gpu/profile.ts): with profiling on, every dispatch is counted under its
// kernel's name with a positive time; with it off nothing is recorded; and the kernels compute the
// same numbers either way.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { matmulReg4x4ScalarForwardKernel, matmulTile64ForwardKernel } from '../../src/gpu/kernels/matmul/forward.js';
import { disableProfiling, enableProfiling, QUERIES_PER_SET, takeProfile } from '../../src/gpu/profile.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { gpu, randomArray } from '../helpers.js';

/**
 * out1 = x·Wᵀ twice with matmul_tile64_forward (64 rows) and out2 = x[0:4]·Wᵀ once with
 * matmul_reg4x4_scalar_forward (4 rows), named explicitly rather than left to the launcher's per-device
 * choice (src/gpu/policy.ts).
 */
async function runKernels(repeat = 1) {
  const ctx = await gpu();
  const [M, N, K] = [64, 48, 40];
  const x = createTensor(ctx, [M, K], 'f32', randomArray(M * K, 1));
  const w = createTensor(ctx, [N, K], 'f32', randomArray(N * K, 2));
  const out1 = createTensor(ctx, [M, N], 'f32');
  const out2 = createTensor(ctx, [4, N], 'f32');
  const rec = new Recorder(ctx);
  for (let i = 0; i < repeat; i++) {
    rec.run(matmulTile64ForwardKernel.formats.f32, { M, N, K, hasBias: false }, [out1, x, w, w, x, x]);
    rec.run(matmulTile64ForwardKernel.formats.f32, { M, N, K, hasBias: false }, [out1, x, w, w, x, x]);
    rec.run(matmulReg4x4ScalarForwardKernel.formats.f32, { M: 4, N, K, hasBias: false }, [out2, x.view(0, [4, K]), w, w]);
  }
  rec.submit();
  const result = [await readTensor(ctx, out1), await readTensor(ctx, out2)];
  for (const t of [x, w, out1, out2]) t.destroy();
  return result;
}

describe('kernel profiling', () => {
  it('counts each dispatch under its kernel name with a positive GPU time', async () => {
    const ctx = await gpu();
    expect(ctx.features.timestampQuery, 'SwiftShader and the GPUs this runs on have timestamp-query').toBe(true);
    expect(enableProfiling(ctx)).toBeNull();
    await runKernels();
    disableProfiling(ctx);
    const { times, reason } = await takeProfile(ctx);
    expect(reason).toBeNull();
    expect([...times.keys()].sort()).toEqual(['matmul_reg4x4_scalar_forward', 'matmul_tile64_forward']);
    expect(times.get('matmul_tile64_forward')!.calls).toBe(2);
    expect(times.get('matmul_reg4x4_scalar_forward')!.calls).toBe(1);
    for (const t of times.values()) expect(t.ms).toBeGreaterThan(0);
    // Taking the profile resets it.
    expect((await takeProfile(ctx)).times.size).toBe(0);
  });

  it('spreads more dispatches than one query set holds over several sets', async () => {
    const ctx = await gpu();
    enableProfiling(ctx);
    const repeat = Math.ceil(QUERIES_PER_SET / 2 / 3) + 5; // 3 dispatches a repeat: past 2048 dispatches
    await runKernels(repeat);
    const { times } = await takeProfile(ctx);
    disableProfiling(ctx);
    expect(times.get('matmul_tile64_forward')!.calls).toBe(2 * repeat);
    expect(times.get('matmul_reg4x4_scalar_forward')!.calls).toBe(repeat);
    for (const t of times.values()) expect(t.ms).toBeGreaterThan(0);
  });

  it('records nothing while off, and leaves the results of the kernels unchanged', async () => {
    const ctx = await gpu();
    const off = await runKernels();
    const { times, reason } = await takeProfile(ctx);
    expect(times.size).toBe(0);
    expect(reason).toMatch(/profiling is off/);
    enableProfiling(ctx);
    const on = await runKernels();
    disableProfiling(ctx);
    expect((await takeProfile(ctx)).times.get('matmul_tile64_forward')?.calls).toBe(2);
    expect(on[0]).toEqual(off[0]);
    expect(on[1]).toEqual(off[1]);
    // Recorders created after disableProfiling are not timed.
    await runKernels();
    const after = await takeProfile(ctx);
    expect(after.times.size).toBe(0);
    expect(after.reason).toMatch(/profiling is off/);
  });

  it('says why when the device has no timestamp-query', async () => {
    const ctx = await gpu();
    const without = { ...ctx, features: { ...ctx.features, timestampQuery: false } };
    expect(enableProfiling(without)).toMatch(/timestamp-query/);
    const { times, reason } = await takeProfile(without);
    expect(times.size).toBe(0);
    expect(reason).toMatch(/timestamp-query/);
  });
});
