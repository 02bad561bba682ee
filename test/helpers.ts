// Shared test helpers: the GPU device for kernel tests, seeded random data, tolerance checks,
// and the location of ../shared.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { GpuContext } from '../src/gpu/device.js';
import type { KernelPolicy } from '../src/gpu/policy.js';
import { acquireNodeDevice } from '../src/gpu/node.js';

let ctxPromise: Promise<GpuContext> | undefined;

/**
 * The GPU every test in this process uses. Tests never skip for want of a GPU: vite.config.ts
 * selects SwiftShader where there is no hardware adapter, so a failure here fails the test.
 */
export function gpu(): Promise<GpuContext> {
  ctxPromise ??= acquireNodeDevice();
  return ctxPromise;
}

/**
 * The same device with some of its kernel policy (src/gpu/policy.ts) replaced: every launcher
 * reads ctx.policy, so a test reaches another device's kernels on the device it has.
 */
export const withPolicy = (ctx: GpuContext, policy: Partial<KernelPolicy>): GpuContext => ({
  ...ctx,
  policy: { ...ctx.policy, ...policy, reason: `a test's policy: ${JSON.stringify(policy)}` },
});

/**
 * The same device with the GPUs' kernels (tiled matmuls, subgroup attention where it has
 * subgroups, tree reductions), which run on SwiftShader too, only slower.
 */
export const tiledKernels = (ctx: GpuContext): GpuContext => withPolicy(ctx, { kernels: 'tiled' });

/** The same device with the barrier-free kernels of CPU drivers (which run anywhere). */
export const barrierFreeKernels = (ctx: GpuContext): GpuContext => withPolicy(ctx, { kernels: 'barrier-free' });

/**
 * The same device as if it bound at most `bytes` of a buffer at once (maxStorageBufferBindingSize):
 * every planner and allocator reads ctx.limits, so a tiny model meets the limits of a large one
 * (a vocabulary split into blocks, src/model/vocab-blocks.ts) on the device the test has.
 */
export function withBindingLimit(ctx: GpuContext, bytes: number): GpuContext {
  const limits = new Proxy(ctx.limits, {
    get: (target, key) => (key === 'maxStorageBufferBindingSize' ? bytes : Reflect.get(target, key, target)),
  });
  return { ...ctx, limits };
}

/** Deterministic uniform values in [lo, hi) from a 32-bit xorshift generator. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return out;
}

/** Assert |got - want| <= atol + rtol·|want| elementwise, reporting the worst element. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = ''): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (!(excess <= worstExcess)) {
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${got[worst]}, expected ${want[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

const here = dirname(fileURLToPath(import.meta.url));
/** ../shared beside the repository (fixtures: models and golden data), or null when absent. */
export const SHARED_DIR: string | null = (() => {
  const p = join(here, '..', '..', 'shared');
  return existsSync(p) ? p : null;
})();
export const NO_SHARED_REASON = `../shared (the fixture models and golden data) is not beside the repository at ${join(here, '..', '..', 'shared')}`;
