// Files for the tests of untrusted model files (fuzz-safetensors.test.ts, fuzz-config.test.ts,
// weights-untrusted.test.ts): a seeded PRNG, a tiny llama's config and tensors, and writers of
// safetensors files from raw tensors of any dtype (writeSafetensors writes four dtypes only).
import { NF4_VALUES } from '../../src/gpu/quant/nf4.js';
import { parseModelConfig } from '../../src/model/config.js';
import type { TensorToWrite } from '../../src/model/safetensors.js';

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}
export type Rng = ReturnType<typeof prng>;

/** A tiny tied llama: V 8, C 4, L 1, NH 2, KV 1, HS 2, F 6. */
export const TINY_CONFIG = { model_type: 'llama', vocab_size: 8, hidden_size: 4, intermediate_size: 6, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: true };
export const TINY_SPEC = parseModelConfig(TINY_CONFIG, 'test');

/** The tiny model's tensors, their dtypes F32, F16, BF16 in turn, with small distinct finite values. */
export function tinyModel(): TensorToWrite[] {
  const dtypes = ['F32', 'F16', 'BF16'] as const;
  let k = 0;
  const t = (name: string, shape: number[]): TensorToWrite => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, dtype: dtypes[k++ % 3], shape, data: Float32Array.from({ length: n }, (_, i) => ((i * 5) % 11) / 16 - 0.3) };
  };
  const p = 'model.layers.0.';
  return [
    t('model.embed_tokens.weight', [8, 4]), t(`${p}input_layernorm.weight`, [4]), t(`${p}self_attn.q_proj.weight`, [4, 4]),
    t(`${p}self_attn.k_proj.weight`, [2, 4]), t(`${p}self_attn.v_proj.weight`, [2, 4]), t(`${p}self_attn.o_proj.weight`, [4, 4]),
    t(`${p}post_attention_layernorm.weight`, [4]), t(`${p}mlp.gate_proj.weight`, [6, 4]), t(`${p}mlp.up_proj.weight`, [6, 4]),
    t(`${p}mlp.down_proj.weight`, [4, 6]), t('model.norm.weight', [4]),
  ];
}

/** A safetensors file of raw tensors (any dtype), back to back in the given order. */
export function rawSafetensors(tensors: Array<{ name: string; dtype: string; shape: number[]; bytes: Uint8Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] };
    at += t.bytes.length;
  }
  const data = new Uint8Array(at);
  at = 0;
  for (const t of tensors) {
    data.set(t.bytes, at);
    at += t.bytes.length;
  }
  return assemble(JSON.stringify(header), data);
}

/**
 * The tiny model with its q_proj as a bitsandbytes NF4 weight: 16 codes in 8 bytes (U8 [8, 1]),
 * one block's F32 absmax, the NF4 table as quant_map and the quant_state JSON as U8 bytes.
 */
export function tinyBnbModel(absmax = 0.5): Uint8Array {
  const q = 'model.layers.0.self_attn.q_proj.weight';
  const f32 = (xs: ArrayLike<number>) => new Uint8Array(Float32Array.from(xs).buffer);
  const others = tinyModel().filter((t) => t.name !== q).map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, bytes: f32(t.data) }));
  const state = new TextEncoder().encode(JSON.stringify({ quant_type: 'nf4', blocksize: 64, dtype: 'float32', shape: [4, 4] }));
  return rawSafetensors([
    ...others,
    { name: q, dtype: 'U8', shape: [8, 1], bytes: Uint8Array.from({ length: 8 }, (_, i) => (i * 37) & 0xff) },
    { name: `${q}.absmax`, dtype: 'F32', shape: [1], bytes: f32([absmax]) },
    { name: `${q}.quant_map`, dtype: 'F32', shape: [16], bytes: f32(NF4_VALUES) },
    { name: `${q}.quant_state.bitsandbytes__nf4`, dtype: 'U8', shape: [state.length], bytes: state },
  ]);
}

export const headerLength = (b: Uint8Array) => Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));

/** A file from a header text and a data section. */
export function assemble(header: string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

