// A seeded fuzz test of the config.json reader on untrusted files: a small deterministic PRNG
// mutates valid configs of every supported model type (a field set to a random JSON value, to an
// edge number, deleted; nested rope_scaling, rope_parameters, text_config, quantization_config and
// layer_types edited; the file's bytes flipped or cut) and every outcome must be either a spec
// that is consistent (sizes within SIZE_LIMITS, heads that divide, one layer entry per layer, RoPE
// indices that exist) or a ModelConfigError naming the file and a field. Invalid JSON is an Error
// of ../../src/model/source.ts naming the file. Never a TypeError or RangeError, never a slow case.
import { describe, expect, it } from 'vitest';
import { loadModelSpec, ModelConfigError, type ModelSpec } from '../../src/model/config.js';
import { SIZE_LIMITS } from '../../src/model/config-fields.js';
import { memorySource } from '../../src/model/source.js';
import { prng, TINY_CONFIG, type Rng } from './fuzz-files.js';

const CASES = 4000;
const SEED = 0xc0f19;
const CASE_MS = 1000; // far above the slowest case measured (25 ms on a loaded 2-core machine), far below a hang

/** Valid configs, one or more per model type, with the nested fields the readers take apart. */
const BASES: Record<string, unknown>[] = [
  TINY_CONFIG,
  { ...TINY_CONFIG, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }, bos_token_id: 1, eos_token_id: [2, 3] },
  { model_type: 'qwen2', vocab_size: 30, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, rope_parameters: { rope_type: 'default', rope_theta: 1e6 }, use_sliding_window: false },
  { model_type: 'qwen3', vocab_size: 30, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4, layer_types: ['full_attention', 'full_attention'] },
  { model_type: 'smollm3', vocab_size: 30, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 4, num_attention_heads: 2, no_rope_layers: [1, 1, 1, 0], use_sliding_window: true, sliding_window: 4 },
  {
    model_type: 'gemma3_text', vocab_size: 30, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 3, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4,
    query_pre_attn_scalar: 4, sliding_window: 4, layer_types: ['sliding_attention', 'sliding_attention', 'full_attention'], final_logit_softcapping: 30,
    rope_parameters: { sliding_attention: { rope_type: 'default', rope_theta: 10000 }, full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 } },
  },
  { model_type: 'gemma3', text_config: { hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, head_dim: 4, vocab_size: 30, rope_scaling: { rope_type: 'linear', factor: 2 }, sliding_window_pattern: 2 }, eos_token_id: 1 },
  { model_type: 'gpt2', vocab_size: 30, n_embd: 8, n_head: 2, n_layer: 2, n_positions: 16, n_inner: null, activation_function: 'gelu_new' },
  { ...TINY_CONFIG, quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true } },
];

/** Every field name a reader may name in an error (read with a default, so absent from the configs). */
const KNOWN_FIELDS = [
  'model_type', 'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim',
  'max_position_embeddings', 'rms_norm_eps', 'rope_theta', 'rope_scaling', 'rope_parameters', 'rope_local_base_freq', 'partial_rotary_factor',
  'tie_word_embeddings', 'attention_bias', 'mlp_bias', 'hidden_act', 'hidden_activation', 'bos_token_id', 'eos_token_id', 'layer_types',
  'sliding_window', 'sliding_window_pattern', '_sliding_window_pattern', 'use_sliding_window', 'no_rope_layers', 'no_rope_layer_interval',
  'query_pre_attn_scalar', 'final_logit_softcapping', 'use_bidirectional_attention', 'text_config', 'quantization_config', 'n_embd', 'n_head',
  'n_layer', 'n_inner', 'n_positions', 'layer_norm_epsilon', 'activation_function', 'scale_attn_by_inverse_layer_idx', 'scale_attn_weights',
  'factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings', 'rope_type',
];

const EDGE_NUMBERS = [0, -1, 1, 2, 3, 0.5, -0, 1.5, 7, 1e-9, 2 ** 24, 2 ** 24 + 1, 2 ** 31, 2 ** 40, 2 ** 53, 1e9, 1e6, 1e308, -1e308];

function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 7)) {
    case 0:
    case 1: return r.pick(EDGE_NUMBERS);
    case 2: return r.pick(['', 'llama', 'silu', 'gelu_new', 'full_attention', 'sliding_attention', 'linear', 'llama3', 'yarn', 'nf4', 'bitsandbytes', '__proto__', 'x'.repeat(r.int(300))]);
    case 3: return r.next() < 0.5;
    case 4: return null;
    case 5: return Array.from({ length: r.int(6) }, () => randomJson(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick([...KNOWN_FIELDS, 'type', 'full_attention', 'sliding_attention', '__proto__']), randomJson(r, depth + 1)]));
  }
}

/** One edit of a copy of `config`: a top-level or nested field set, deleted, or the whole value replaced. */
function mutateConfig(r: Rng, config: Record<string, unknown>): unknown {
  const c = structuredClone(config) as Record<string, unknown>;
  // An object to edit: the top level, or one of its object-valued fields (rope_scaling, text_config, ...).
  const nested = Object.values(c).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
  const target = nested.length && r.next() < 0.3 ? r.pick(nested) : c;
  const field = r.next() < 0.7 && Object.keys(target).length ? r.pick(Object.keys(target)) : r.pick(KNOWN_FIELDS);
  switch (r.int(6)) {
    case 0: delete target[field]; break;
    case 1: target[field] = r.pick(EDGE_NUMBERS); break;
    case 2: {
      // A list field made longer, shorter or holding another value.
      const v = target[field];
      target[field] = Array.isArray(v) ? (r.next() < 0.5 ? v.slice(0, r.int(v.length + 1)) : [...v, randomJson(r)]) : Array.from({ length: r.int(8) }, () => r.pick([0, 1, 'full_attention', 'sliding_attention', true]));
      break;
    }
    case 3:
      if (r.next() < 0.05) return randomJson(r); // the whole file another JSON value
      target[field] = randomJson(r);
      break;
    default: target[field] = randomJson(r);
  }
  return c;
}

/** The bytes of a config file: mostly the mutated JSON, sometimes with bytes flipped or cut. */
function fileBytes(r: Rng, config: unknown): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(config) ?? 'null');
  const k = r.int(10);
  if (k === 0) return bytes.subarray(0, r.int(bytes.length));
  if (k === 1) {
    const out = bytes.slice();
    for (let j = 1 + r.int(3); j > 0; j--) out[r.int(out.length)] = r.pick([0x30, 0x39, 0x2d, 0x2e, 0x65, 0x22, 0x7b, 0x5b, 0x20, r.int(256)]);
    return out;
  }
  return bytes;
}

/** Throws unless `s` is a spec the engine can size buffers from. */
function expectConsistent(s: ModelSpec): void {
  for (const [k, v] of Object.entries({ V: s.V, C: s.C, L: s.L, NH: s.NH, KV: s.KV, HS: s.HS, F: s.F, P: s.maxPositions })) {
    expect(Number.isSafeInteger(v) && v > 0 && v <= 2 ** 24, `${k} = ${v}`).toBe(true);
  }
  expect(s.C).toBeLessThanOrEqual(SIZE_LIMITS.hidden_size);
  expect(s.L).toBeLessThanOrEqual(SIZE_LIMITS.num_hidden_layers);
  expect(s.NH % s.KV).toBe(0);
  if (s.ropes.length > 0) expect(s.HS % 2).toBe(0); // RoPE rotates pairs (GPT-2 has no RoPE, and any head size)
  expect(s.V * s.C).toBeLessThanOrEqual(2 ** 32);
  expect(s.F * s.C).toBeLessThanOrEqual(2 ** 32);
  expect(s.normEps > 0 && Number.isFinite(s.normEps)).toBe(true);
  expect(s.layers.length).toBe(s.L);
  for (const l of s.layers) {
    if (l.rope !== null) expect(s.ropes[l.rope]).toBeDefined();
    if (l.window !== null) expect(Number.isSafeInteger(l.window) && l.window > 0).toBe(true);
  }
  for (const rope of s.ropes) expect(rope.theta > 0 && Number.isFinite(rope.theta)).toBe(true);
  for (const id of s.eosTokenIds) expect(Number.isSafeInteger(id) && id >= 0).toBe(true);
}

/** Every key of `v` and of the objects inside it. */
function keysOf(v: unknown, out = new Set<string>()): Set<string> {
  if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) (out.add(k), keysOf(x, out));
  return out;
}

describe('fuzzing the config.json reader', () => {
  it(`fuzzes ${CASES} mutated config.json files (seed ${SEED.toString(16)}): each a consistent spec or a ModelConfigError naming the file and a field`, async () => {
    const r = prng(SEED);
    const problems: string[] = [];
    const outcomes = { spec: 0, ModelConfigError: 0, invalidJson: 0 };
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      let config = mutateConfig(r, BASES[i % BASES.length]);
      if (r.next() < 0.3 && typeof config === 'object' && config !== null && !Array.isArray(config)) config = mutateConfig(r, config as Record<string, unknown>);
      const bytes = fileBytes(r, config);
      const t0 = performance.now();
      try {
        const { spec } = await loadModelSpec(memorySource({ 'config.json': bytes }, 'mem'));
        expectConsistent(spec);
        outcomes.spec++;
      } catch (e) {
        if ((e as Error)?.name === 'AssertionError') throw new Error(`case ${i}: ${(e as Error).message}\n${new TextDecoder().decode(bytes)}`);
        const msg = e instanceof Error ? e.message : String(e);
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder().decode(bytes));
        } catch {
          // Not JSON: the source's reader refuses it, naming the file.
          if (e instanceof ModelConfigError && msg.startsWith('mem/config.json is not valid JSON')) outcomes.invalidJson++;
          else problems.push(`case ${i} (not JSON): ${e instanceof Error ? e.name : typeof e}: ${msg.slice(0, 200)}`);
          continue;
        }
        const names = [...keysOf(parsed), ...KNOWN_FIELDS];
        const namesField = names.some((k) => k && msg.includes(k)) || msg.includes('not a JSON object');
        if (!(e instanceof ModelConfigError) || !msg.includes('mem/config.json') || !namesField) {
          problems.push(`case ${i}: ${e instanceof Error ? e.name : typeof e}: ${msg.slice(0, 300)}\n  ${new TextDecoder().decode(bytes).slice(0, 300)}`);
        } else outcomes.ModelConfigError++;
        if (msg.length > 2000) problems.push(`case ${i}: a ${msg.length}-character message`);
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (ms > CASE_MS) problems.push(`case ${i} took ${ms.toFixed(0)} ms: ${new TextDecoder().decode(bytes).slice(0, 300)}`);
    }
    console.log(`fuzz-config: ${CASES} files; ${outcomes.spec} specs, ${outcomes.ModelConfigError} ModelConfigError, ${outcomes.invalidJson} invalid JSON; slowest case ${slowest.toFixed(1)} ms`);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(outcomes.spec).toBeGreaterThan(CASES / 10);
    expect(outcomes.ModelConfigError).toBeGreaterThan(CASES / 4);
  }, 60_000);
});
