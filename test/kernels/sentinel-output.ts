// Output tensors for kernel tests that must write exactly their n elements: `init` (or zeros)
// followed by `pad` sentinels, and the read-back that checks the sentinels were left untouched.
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { createTensor, readTensor, type Tensor } from '../../src/gpu/tensor.js';

export const SENTINEL = 12345;

/** An output tensor of n elements holding `init` (or zeros), then `pad` SENTINELs. */
export function sentinelOutput(ctx: GpuContext, n: number, init?: Float32Array, pad = 8): Tensor<'f32'> {
  const data = new Float32Array(n + pad).fill(SENTINEL);
  data.set(init ?? new Float32Array(n));
  return createTensor(ctx, [n + pad], 'f32', data);
}

/** The first n elements of t, after checking that the sentinels past them are untouched. */
export async function readSentinelOutput(ctx: GpuContext, t: Tensor<'f32'>, n: number): Promise<Float32Array> {
  const got = await readTensor(ctx, t);
  expect(Array.from(got.subarray(n)).every((v) => v === SENTINEL), 'elements past the output untouched').toBe(true);
  return got.slice(0, n);
}
