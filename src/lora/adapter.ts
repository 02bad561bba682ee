// A LoRA adapter on the CPU: its settings, the modules it wraps, and the A and B matrix of each.
// This is what PEFT import/export (./peft.ts), merging (./merge.ts) and the trainer's uploads and
// read-backs exchange. Layouts are PEFT's: A [r, in] and B [out, r], row-major, so that a wrapped
// layer computes y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ (see ./config.ts).
import type { ModelSpec } from '../model/config.js';
import { resolveLoraModules, type LoraConfig, type LoraModule } from './config.js';

export interface LoraFactors {
  /** [r, in] row-major: PEFT's lora_A.weight. */
  A: Float32Array;
  /** [out, r] row-major: PEFT's lora_B.weight. */
  B: Float32Array;
}

export interface LoraAdapter {
  config: LoraConfig;
  /** The wrapped modules, layer by layer in the model's order (resolveLoraModules). */
  modules: LoraModule[];
  /** The factors of each module, keyed by its path (LoraModule.path). */
  weights: Map<string, LoraFactors>;
  /** base_model_name_or_path in adapter_config.json: the Hub id or path of the base model. */
  baseModel: string;
}

/** Trainable parameters: r·(in + out) per module. */
export function loraParameterCount(adapter: Pick<LoraAdapter, 'config' | 'modules'>): number {
  return adapter.modules.reduce((n, m) => n + adapter.config.r * (m.inFeatures + m.outFeatures), 0);
}

/**
 * Throws unless every module has factors of exactly r·in and out·r elements and no other module
 * has any; `what` names the adapter in the message.
 */
export function checkAdapterWeights(adapter: LoraAdapter, what = 'LoRA adapter'): void {
  const { r } = adapter.config;
  const paths = new Set(adapter.modules.map((m) => m.path));
  for (const path of adapter.weights.keys()) {
    if (!paths.has(path)) throw new Error(`${what}: has weights for '${path}', which is not one of its modules`);
  }
  for (const m of adapter.modules) {
    const w = adapter.weights.get(m.path);
    if (!w) throw new Error(`${what}: module '${m.path}' has no weights`);
    if (w.A.length !== r * m.inFeatures) throw new Error(`${what}: '${m.path}' lora_A has ${w.A.length} elements, expected [${r}, ${m.inFeatures}]`);
    if (w.B.length !== m.outFeatures * r) throw new Error(`${what}: '${m.path}' lora_B has ${w.B.length} elements, expected [${m.outFeatures}, ${r}]`);
  }
}

// ---- PEFT's default initialisation ------------------------------------------------------------
//
// PEFT (init_lora_weights=True) sets B = 0 and fills A with torch.nn.init.kaiming_uniform_(A, a=√5).
// kaiming_uniform_ draws from U(−bound, bound) with
//   gain  = √(2 / (1 + a²))        (the leaky-ReLU gain for negative slope a)
//   bound = gain · √(3 / fan_in),
// and fan_in of a [r, in] weight is its second dimension, in. With a = √5, gain = √(2/6) = 1/√3,
// so bound = (1/√3)·√(3/in) = 1/√in: A ~ U(−1/√in, 1/√in). Because B = 0 the wrapped layer's
// output at step 0 equals the base model's.
//
// The random numbers come from our own seeded generator, not torch's (they need not match torch;
// the distribution does). Each module gets its own stream, seeded from (seed, module path), so a
// module's A depends only on the seed and its path: targeting more modules does not change the A of
// the others. Everything is 32-bit integer arithmetic (Math.imul, shifts) and one correctly rounded
// Math.sqrt, so the values are identical on every platform and run.

/** FNV-1a over the UTF-16 code units of s, started from the seed: a 32-bit stream id. */
function hashSeed(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  // Mix the high bits of large integer seeds in as well (seeds up to 2^53).
  h = Math.imul(h ^ Math.floor(seed / 2 ** 32), 0x01000193) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * mulberry32, a public-domain 32-bit generator: a Weyl sequence (state += 0x6D2B79F5) passed
 * through an xorshift-multiply finaliser. Returns uniform floats in [0, 1) with 24 random bits,
 * so each value is exactly representable in float32.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    z = (z ^ (z >>> 14)) >>> 0;
    return (z >>> 8) / 2 ** 24;
  };
}

/** The bound of kaiming_uniform_(a) for a given fan_in: √(2/(1+a²)) · √(3/fan_in). */
export function kaimingUniformBound(fanIn: number, a = Math.sqrt(5)): number {
  return Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fanIn);
}

/** A [r, in] matrix from U(−1/√in, 1/√in), drawn from the module's own stream. */
export function initLoraA(r: number, inFeatures: number, seed: number, path: string): Float32Array {
  const bound = 1 / Math.sqrt(inFeatures); // = kaimingUniformBound(inFeatures), without its rounding
  const next = mulberry32(hashSeed(seed, path));
  const A = new Float32Array(r * inFeatures);
  for (let i = 0; i < A.length; i++) A[i] = bound * (2 * next() - 1);
  return A;
}

/**
 * A fresh adapter as PEFT initialises one (B = 0, A kaiming-uniform), for every module the config
 * targets. `seed` is any integer (up to 2^53); `baseModel` goes to base_model_name_or_path.
 */
export function initLoraAdapter(spec: ModelSpec, config: LoraConfig, seed: number, baseModel: string): LoraAdapter {
  if (!Number.isSafeInteger(seed)) throw new Error(`initLoraAdapter: the seed must be an integer, got ${seed}`);
  const modules = resolveLoraModules(spec, config);
  const weights = new Map<string, LoraFactors>();
  for (const m of modules) {
    weights.set(m.path, { A: initLoraA(config.r, m.inFeatures, seed, m.path), B: new Float32Array(m.outFeatures * config.r) });
  }
  return { config: { ...config }, modules, weights, baseModel };
}
