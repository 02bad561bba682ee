// Weights and configs from untrusted files: a tensor whose dtype is not a float where a float
// weight is needed, NaN or Inf in a weight, odd safetensors headers (a dtype named after an
// Object.prototype member, duplicate names, __metadata__ keys), and config.json sizes so large
// that the model could never be allocated. Each is refused with an error naming the file, the
// tensor or field and what is wrong. The models are built in memory (no fixtures needed).
import { describe, expect, it } from 'vitest';
import { loadModelSpec, ModelConfigError, parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { f32ToBf16, f32ToF16, readSafetensorsHeader, SafetensorsError, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { memorySource, type ModelSource } from '../../src/model/source.js';
import { destroyWeights, streamWeightsToGpu } from '../../src/model/gpu-weights.js';
import { loadWeights, streamWeights, WeightsError } from '../../src/model/weights.js';
import { gpu } from '../helpers.js';
import { tinyBnbModel } from './fuzz-files.js';

/** A tiny tied llama: V 8, C 4, L 1, NH 2, KV 1, HS 2, F 6. */
const CONFIG = { model_type: 'llama', vocab_size: 8, hidden_size: 4, intermediate_size: 6, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: true };
const SPEC: ModelSpec = parseModelConfig(CONFIG, 'test');

/** Every tensor of the tiny llama, as F32 with small distinct values. */
function tinyTensors(): TensorToWrite[] {
  const t = (name: string, shape: number[]): TensorToWrite => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => (i % 7) / 8 - 0.25) };
  };
  const p = 'model.layers.0.';
  return [
    t('model.embed_tokens.weight', [8, 4]),
    t(`${p}input_layernorm.weight`, [4]),
    t(`${p}self_attn.q_proj.weight`, [4, 4]),
    t(`${p}self_attn.k_proj.weight`, [2, 4]),
    t(`${p}self_attn.v_proj.weight`, [2, 4]),
    t(`${p}self_attn.o_proj.weight`, [4, 4]),
    t(`${p}post_attention_layernorm.weight`, [4]),
    t(`${p}mlp.gate_proj.weight`, [6, 4]),
    t(`${p}mlp.up_proj.weight`, [6, 4]),
    t(`${p}mlp.down_proj.weight`, [4, 6]),
    t('model.norm.weight', [4]),
  ];
}

const model = (file: Uint8Array): ModelSource => memorySource({ 'model.safetensors': file }, 'mem');

/** `bytes` with tensor `name`'s dtype in the JSON header replaced by `dtype` (same length, so offsets stay). */
function retype(bytes: Uint8Array, name: string, from: string, to: string): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const key = `${JSON.stringify(name)}:{"dtype":"${from}"`;
  if (!text.includes(key) || from.length !== to.length) throw new Error(`retype: no ${key}, or the dtypes differ in length`);
  const out = bytes.slice();
  out.set(new TextEncoder().encode(text.replace(key, `${JSON.stringify(name)}:{"dtype":"${to}"`)), 8);
  return out;
}

/** A raw safetensors file from a header text and a data section. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(() => null, (x: unknown) => x);
  if (!(e instanceof Error)) throw new Error('expected the promise to be rejected with an Error, but it resolved');
  return e;
}

describe('weights of the wrong dtype are refused, naming the tensor and the dtype', () => {
  it('the tiny model loads as written (the cases below differ from it in one thing)', async () => {
    const w = await loadWeights(model(writeSafetensors(tinyTensors())), SPEC);
    expect(w.layers[0].down.shape).toEqual([4, 6]);
  });

  for (const dtype of ['I32', 'U8', 'I8', 'BOOL'] as const) {
    it(`a ${dtype} norm weight, before any tensor is handed on`, async () => {
      // The tensor's shape is the config's, so only its dtype is wrong.
      let file: Uint8Array;
      if (dtype === 'I32') file = retype(writeSafetensors(tinyTensors()), 'model.norm.weight', 'F32', 'I32');
      else {
        // A [1] I32 tensor (4 bytes) relabelled as [4] of a one-byte dtype: its shape is the config's [C] = [4].
        const tensors = tinyTensors().filter((t) => t.name !== 'model.norm.weight');
        const bytes = writeSafetensors([...tensors, { name: 'model.norm.weight', dtype: 'I32', shape: [1], data: new Int32Array([0]) }]);
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
        const from = '"model.norm.weight":{"dtype":"I32","shape":[1]';
        if (!text.includes(from)) throw new Error(`the test's header has no ${from}`);
        file = rawFile(text.replace(from, `"model.norm.weight":{"dtype":"${dtype}","shape":[4]`), bytes.subarray(8 + n));
      }
      const seen: string[] = [];
      const err = await errorOf(streamWeights(model(file), SPEC, (field) => void seen.push(field)));
      expect(err).toBeInstanceOf(WeightsError);
      expect(err.message).toContain('mem/model.safetensors');
      expect(err.message).toContain("tensor 'model.norm.weight'");
      expect(err.message).toContain(`dtype ${dtype}`);
      expect(seen).toEqual([]); // refused from the headers, before any data is read
    });
  }
});

describe('a shard index may only name files inside the model folder', () => {
  for (const file of ['../secret.safetensors', '/etc/passwd', 'a/../../b.safetensors', 'C:\\x.safetensors', '..\\x.safetensors', '']) {
    it(`refuses weight_map file ${JSON.stringify(file)} before reading it`, async () => {
      const read: string[] = [];
      const files = { 'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({ weight_map: { 'model.embed_tokens.weight': file } })) };
      const inner = memorySource(files, 'mem');
      const source: ModelSource = { ...inner, exists: async (f) => (read.push(f), inner.exists(f)), size: async (f) => (read.push(f), inner.size(f)) };
      const err = await errorOf(loadWeights(source, SPEC));
      expect(err).toBeInstanceOf(WeightsError);
      expect(err.message).toContain('mem/model.safetensors.index.json: weight_map');
      expect(err.message).toContain(JSON.stringify(file));
      expect(read.filter((f) => f === file)).toEqual([]);
    });
  }
});

describe('NaN and Inf in a weight are refused, naming the tensor and the first bad index', () => {
  const cases: Array<{ dtype: 'F32' | 'F16' | 'BF16'; value: number }> = [
    { dtype: 'F32', value: NaN },
    { dtype: 'F32', value: -Infinity },
    { dtype: 'F16', value: Infinity },
    { dtype: 'F16', value: NaN },
    { dtype: 'BF16', value: NaN },
    { dtype: 'BF16', value: -Infinity },
  ];
  for (const { dtype, value } of cases) {
    it(`${value} in an ${dtype} projection at [2, 1] (flat index 9), a second one later`, async () => {
      const tensors = tinyTensors().map((t) => {
        const data = (t.data as Float32Array).slice();
        if (t.name === 'model.layers.0.self_attn.o_proj.weight') [data[9], data[14]] = [value, NaN];
        return { ...t, dtype, data };
      });
      const err = await errorOf(loadWeights(model(writeSafetensors(tensors)), SPEC));
      expect(err).toBeInstanceOf(SafetensorsError);
      for (const part of ['mem/model.safetensors', "tensor 'model.layers.0.self_attn.o_proj.weight'", dtype, 'element 9 ([2, 1])', String(value)]) {
        expect(err.message).toContain(part);
      }
    });
  }

  it('a bitsandbytes NF4 projection with an inf or NaN absmax names the absmax tensor and the block', async () => {
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const fields: string[] = [];
    await streamWeights(model(tinyBnbModel(0.5)), SPEC, (field, t) => void fields.push(`${field}${'nf4' in t ? ':nf4' : ''}`));
    expect(fields).toContain('layers.0.q:nf4'); // the file is a valid bnb checkpoint
    for (const bad of [NaN, Infinity]) {
      const err = await errorOf(loadWeights(model(tinyBnbModel(bad)), SPEC));
      expect(err).toBeInstanceOf(WeightsError);
      for (const part of ['mem/model.safetensors', `tensor '${q}.absmax'`, 'block 0 (elements 0 to 63', `absmax of ${bad}`]) expect(err.message).toContain(part);
    }
  });

  it('values at the edge of each format (the largest finite ones, subnormals, -0) are kept', async () => {
    const edge = [65504, -65504, 2 ** -24, -0, 3.3895313892515355e38];
    const tensors = tinyTensors().map((t) => {
      if (t.name !== 'model.layers.0.mlp.up_proj.weight') return t;
      const data = (t.data as Float32Array).slice();
      data.set(edge);
      return { ...t, data };
    });
    const w = await loadWeights(model(writeSafetensors(tensors)), SPEC);
    expect(Array.from(w.layers[0].up.data.subarray(0, 5))).toEqual(edge);
    // The same values written as F16 and BF16 round as f32ToF16 / f32ToBf16 do, and stay finite where those are.
    const f16 = Float32Array.from(edge.slice(0, 4));
    expect(Array.from(f32ToF16(f16)).every((h) => (h & 0x7c00) !== 0x7c00)).toBe(true);
    expect(Array.from(f32ToBf16(Float32Array.from(edge))).every((h) => (h & 0x7f80) !== 0x7f80)).toBe(true);
  });
});

describe('a finite weight that f16 storage would make inf is refused, naming the tensor', () => {
  it("70000 in a projection under weightStorage 'f16' (65504 is kept)", async () => {
    const ctx = await gpu();
    const withValue = (v: number) =>
      model(writeSafetensors(tinyTensors().map((t) => (t.name.endsWith('gate_proj.weight') ? { ...t, data: Float32Array.from(t.data as Float32Array, (x, i) => (i === 5 ? v : x)) } : t))));
    const ok = await streamWeightsToGpu(ctx, withValue(65504), SPEC, 'f16');
    destroyWeights(ok);
    const err = await errorOf(streamWeightsToGpu(ctx, withValue(-70000), SPEC, 'f16'));
    for (const part of ["tensor 'layers.0.gate'", '-70000 at element 5', 'float16', "weightStorage 'f32'"]) expect(err.message).toContain(part);
    // Stored as f32, the same weight is fine.
    destroyWeights(await streamWeightsToGpu(ctx, withValue(-70000), SPEC, 'f32'));
  });
});

describe('safetensors headers from untrusted files', () => {
  const one = (header: string, data?: Uint8Array) => memorySource({ 'x.safetensors': rawFile(header, data) }, 'mem');
  const headerError = (header: string, data?: Uint8Array) => errorOf(readSafetensorsHeader(one(header, data), 'x.safetensors'));

  for (const dtype of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    it(`a dtype named ${dtype} (an Object.prototype member) is an unknown dtype`, async () => {
      const err = await headerError(`{"t":{"dtype":"${dtype}","shape":[1],"data_offsets":[0,4]}}`, new Uint8Array(4));
      expect(err).toBeInstanceOf(SafetensorsError);
      expect(err.message).toContain("mem/x.safetensors: tensor 't': unknown dtype");
    });
  }

  it('a tensor named twice is refused (JSON.parse would keep the last silently)', async () => {
    const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    const err = await headerError(`{"a":${entry}, "b" : {"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":${entry}}`, new Uint8Array(8));
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err.message).toContain("mem/x.safetensors: tensor 'a' is named twice in the header");
    // The same name inside nested objects, or as a string value, is not a duplicate.
    const ok = await readSafetensorsHeader(one(`{"__metadata__":{"a":"a","b":"{\\"a\\":1}"},"a":${entry}}`, new Uint8Array(4)), 'x.safetensors');
    expect([...ok.tensors.keys()]).toEqual(['a']);
    expect(ok.metadata).toEqual({ a: 'a', b: '{"a":1}' });
  });

  it('__metadata__ keeps a key named __proto__ as data, and refuses values that are not strings', async () => {
    const h = await readSafetensorsHeader(one('{"__metadata__":{"__proto__":"x","format":"pt"}}'), 'x.safetensors');
    expect(Object.entries(h.metadata)).toEqual([['__proto__', 'x'], ['format', 'pt']]);
    const err = await headerError('{"__metadata__":{"format":7}}');
    expect(err.message).toContain('mem/x.safetensors: __metadata__.format is not a string');
  });

  it('a shape whose byte size overflows (2^78 elements) does not match its offsets', async () => {
    const err = await headerError(`{"t":{"dtype":"F32","shape":[67108864,67108864,67108864],"data_offsets":[0,4]}}`, new Uint8Array(4));
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err.message).toContain("mem/x.safetensors: tensor 't': data_offsets [0, 4] span 4 bytes, but shape [67108864, 67108864, 67108864] of F32 needs");
  });

  for (const meta of ['[]', '"pt"', '7', '[{"format":"pt"}]']) {
    it(`__metadata__ of the wrong type (${meta})`, async () => {
      const err = await headerError(`{"__metadata__":${meta}}`);
      expect(err).toBeInstanceOf(SafetensorsError);
      expect(err.message).toContain('mem/x.safetensors: __metadata__ is not an object of strings');
    });
  }

  it('an error about a huge shape quotes only its beginning', async () => {
    const shape = `[${Array(100_000).fill('-1').join(',')}]`;
    const err = await headerError(`{"t":{"dtype":"F32","shape":${shape},"data_offsets":[0,0]}}`);
    expect(err.message).toContain("tensor 't': shape [-1,-1,");
    expect(err.message.length).toBeLessThan(1000);
  });
});

describe('config.json sizes that could never be allocated are refused, naming the field', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['hidden_size', { hidden_size: 1e9, num_attention_heads: 1 }],
    ['num_hidden_layers', { num_hidden_layers: 1e6 }],
    ['vocab_size', { vocab_size: 2 ** 40 }],
    ['intermediate_size', { intermediate_size: 2 ** 31 }],
    ['num_attention_heads', { num_attention_heads: 2 ** 20 }],
    ['max_position_embeddings', { max_position_embeddings: 2 ** 40 }],
    ['head_dim', { head_dim: 2 ** 30 }],
  ];
  for (const [field, edit] of cases) {
    it(`${field} = ${Object.values(edit)[0]}`, () => {
      let err: unknown;
      try {
        parseModelConfig({ ...CONFIG, ...edit }, 'here/config.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ModelConfigError);
      expect((err as Error).message).toContain(`here/config.json: ${field}`);
      expect((err as Error).message).toMatch(/at most|too large/);
    });
  }

  it('sizes that are each allowed but whose matrix would be too large name both fields', () => {
    let err: unknown;
    try {
      parseModelConfig({ ...CONFIG, vocab_size: 4_000_000, hidden_size: 16384, num_attention_heads: 128 }, 'here/config.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelConfigError);
    expect((err as Error).message).toContain('here/config.json: vocab_size');
    expect((err as Error).message).toContain('hidden_size');
  });

  it('a config.json that is not valid JSON is a ModelConfigError naming the file', async () => {
    const err = await errorOf(loadModelSpec(memorySource({ 'config.json': new TextEncoder().encode('{"model_type": "llama",') }, 'mem')));
    expect(err).toBeInstanceOf(ModelConfigError);
    expect(err.message).toContain('mem/config.json is not valid JSON');
  });

  it('a config.json that holds null is not an object, not "missing" (found by fuzz-config.test.ts)', async () => {
    const err = await errorOf(loadModelSpec(memorySource({ 'config.json': new TextEncoder().encode('null') }, 'mem')));
    expect(err).toBeInstanceOf(ModelConfigError);
    expect(err.message).toBe('mem/config.json: not a JSON object');
  });

  it('the sizes of real large models are accepted (Gemma 3 27B, Llama 3.1 405B)', () => {
    const gemma27b = parseModelConfig(
      { model_type: 'gemma3_text', vocab_size: 262208, hidden_size: 5376, intermediate_size: 21504, num_hidden_layers: 62, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, max_position_embeddings: 131072 },
      'x',
    );
    expect(gemma27b.V * gemma27b.C).toBe(262208 * 5376);
    const llama405b = parseModelConfig({ ...CONFIG, vocab_size: 128256, hidden_size: 16384, intermediate_size: 53248, num_hidden_layers: 126, num_attention_heads: 128, num_key_value_heads: 8, max_position_embeddings: 131072 }, 'x');
    expect(llama405b.L).toBe(126);
  });
});
