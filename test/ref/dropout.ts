// CPU reference for dropout_forward: the same hash in 32-bit integer arithmetic (Math.imul wraps
// mod 2³² as WGSL's u32 multiply does), and the same f32 multiply.

/** MurmurHash3's 32-bit finalizer. */
export function mix32(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

export interface DropoutRefKey {
  seed: number;
  step: number;
  stream: number;
}

/** keep[i] (1 or 0) for i < n: mix(mix(i) ^ key) ≥ floor(p · 2³²). */
export function dropoutKeepRef(n: number, p: number, { seed, step, stream }: DropoutRefKey): Uint8Array {
  const key = mix32(mix32(mix32((seed ^ 0x9e3779b9) >>> 0) ^ step) ^ stream);
  const threshold = Math.min(2 ** 32 - 1, Math.floor(p * 2 ** 32));
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) keep[i] = mix32(mix32(i) ^ key) >= threshold ? 1 : 0;
  return keep;
}

/** The multiplier of each element: 1/(1 − p) rounded to f32 where kept, 0 where dropped. */
export function dropoutMaskRef(n: number, p: number, key: DropoutRefKey): Float32Array {
  const scale = Math.fround(1 / (1 - p));
  return Float32Array.from(dropoutKeepRef(n, p, key), (k) => k * scale);
}

/** out[i] = inp[i] · mask[i], one f32 multiply (the product of two f32 values is exact in f64). */
export function dropoutForwardRef(inp: ArrayLike<number>, p: number, key: DropoutRefKey): Float32Array {
  const mask = dropoutMaskRef(inp.length, p, key);
  return Float32Array.from(mask, (m, i) => m * inp[i]);
}
