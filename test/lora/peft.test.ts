// PEFT adapter export and import against the adapters PEFT 0.21 itself saved (../shared/golden).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initLoraAdapter } from '../../src/lora/adapter.js';
import type { LoraConfig } from '../../src/lora/config.js';
import { exportPeft, importPeft } from '../../src/lora/peft.js';
import { pythonFloat, pythonJson } from '../../src/lora/peft-config.js';
import { bf16ToF32, f16ToF32, f32ToF16, readSafetensorsHeader, writeSafetensors } from '../../src/model/safetensors.js';
import { memorySource } from '../../src/model/source.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { GOLDEN_CASES, GOLDEN_QUANT_CASES, goldenCase } from './golden-cases.js';

if (!SHARED_DIR) console.warn(`skipping the golden tests of peft.test.ts: ${NO_SHARED_REASON}`);

type Json = Record<string, unknown>;
const parse = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as Json;

/** Header entries without offsets: name → dtype and shape, plus the metadata. */
async function headerSummary(bytes: Uint8Array) {
  const h = await readSafetensorsHeader(memorySource({ f: bytes }), 'f');
  return { metadata: h.metadata, tensors: Object.fromEntries([...h.tensors].map(([n, t]) => [n, `${t.dtype} [${t.shape.join(', ')}]`])) };
}

/** The golden config text with its target_modules lines sorted (PEFT writes a set, in any order). */
function withSortedTargets(text: string): string {
  return text.replace(/("target_modules": \[\n)([^\]]*?)(\n\s*\])/, (_, open: string, body: string, close: string) => {
    const lines = body.split(',\n').map((l) => l.trim());
    return open + lines.sort().map((l) => `    ${l}`).join(',\n') + close;
  });
}

describe.skipIf(!SHARED_DIR)('PEFT adapters of the golden cases', () => {
  for (const name of [...GOLDEN_CASES, ...GOLDEN_QUANT_CASES]) {
    it(`${name}: import → export reproduces PEFT's files`, async () => {
      const c = await goldenCase(name);
      const adapter = await importPeft(c.source, c.spec);
      const files = exportPeft(adapter, c.spec);
      const goldenWeights = readFileSync(join(c.dir, 'adapter_model.safetensors'));
      expect(Buffer.compare(Buffer.from(files['adapter_model.safetensors']), goldenWeights), 'adapter_model.safetensors bytes').toBe(0);

      const goldenText = readFileSync(join(c.dir, 'adapter_config.json'), 'utf8');
      const got = parse(files['adapter_config.json']);
      const want = JSON.parse(goldenText) as Json;
      expect(new Set(got.target_modules as string[])).toEqual(new Set(want.target_modules as string[]));
      expect({ ...got, target_modules: null }).toEqual({ ...want, target_modules: null });
      // Byte for byte, too, once PEFT's set order is sorted: Python's json.dumps layout.
      expect(new TextDecoder().decode(files['adapter_config.json'])).toBe(withSortedTargets(goldenText));
    });

    it(`${name}: a fresh initLoraAdapter exports PEFT's key names, shapes, dtype, metadata and config`, async () => {
      const c = await goldenCase(name);
      const l = c.caseJson.lora;
      const config: LoraConfig = { r: l.r, alpha: l.lora_alpha, targetModules: l.target_modules, useRslora: false, dropout: l.lora_dropout };
      const files = exportPeft(initLoraAdapter(c.spec, config, 42, 'some/base-model'), c.spec);
      const golden = readFileSync(join(c.dir, 'adapter_model.safetensors'));
      expect(await headerSummary(files['adapter_model.safetensors'])).toEqual(await headerSummary(golden));
      expect(files['adapter_model.safetensors'].length).toBe(golden.length);
      const got = parse(files['adapter_config.json']);
      const want = JSON.parse(readFileSync(join(c.dir, 'adapter_config.json'), 'utf8')) as Json;
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      expect(got.base_model_name_or_path).toBe('some/base-model');
      expect(got.target_modules).toEqual([...(want.target_modules as string[])].sort());
      expect({ ...got, target_modules: null, base_model_name_or_path: null }).toEqual({ ...want, target_modules: null, base_model_name_or_path: null });
    });
  }

  it("'all-linear' exports the explicit names; F16 export halves the bytes and imports back exactly", async () => {
    const c = await goldenCase('qwen2-attn');
    const config: LoraConfig = { r: 2, alpha: 4, targetModules: 'all-linear', useRslora: true, dropout: 0.05 };
    const adapter = initLoraAdapter(c.spec, config, 7, 'x');
    for (const w of adapter.weights.values()) w.B.set(w.A.subarray(0, w.B.length)); // nonzero B
    const f32 = exportPeft(adapter, c.spec);
    const cfg = parse(f32['adapter_config.json']);
    expect(cfg.target_modules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    expect(cfg.use_rslora).toBe(true);
    expect(new TextDecoder().decode(f32['adapter_config.json'])).toContain('"lora_dropout": 0.05,');
    const f16 = exportPeft(adapter, c.spec, { dtype: 'F16' });
    expect((await headerSummary(f16['adapter_model.safetensors'])).tensors['base_model.model.model.layers.0.mlp.up_proj.lora_A.weight']).toBe('F16 [2, 48]');
    const back = await importPeft(memorySource({ ...f16 }), c.spec);
    expect(back.config).toEqual({ ...config, targetModules: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'] });
    for (const [path, w] of adapter.weights) {
      expect(back.weights.get(path)!.A).toEqual(f16ToF32(f32ToF16(w.A)));
      expect(back.weights.get(path)!.B).toEqual(f16ToF32(f32ToF16(w.B)));
    }
    // And F16 → F32 → F16 is exact, so re-exporting as F16 gives the same bytes.
    expect(exportPeft(back, c.spec, { dtype: 'F16' })['adapter_model.safetensors']).toEqual(f16['adapter_model.safetensors']);
  });

  it('imports BF16 factors, widened exactly to f32', async () => {
    const c = await goldenCase('qwen2-attn');
    const config: LoraConfig = { r: 2, alpha: 4, targetModules: ['q_proj'], useRslora: false, dropout: 0 };
    const f16 = exportPeft(initLoraAdapter(c.spec, config, 3, 'x'), c.spec, { dtype: 'F16' });
    // Relabel the F16 file as BF16: the same 16-bit patterns, read as bfloat16 (top half of a float32).
    const file = f16['adapter_model.safetensors'];
    const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
    const json = new TextDecoder().decode(file.subarray(8, 8 + n)).trimEnd().replaceAll('"F16"', '"BF16"');
    const header = new TextEncoder().encode(json.padEnd(Math.ceil(json.length / 8) * 8));
    const bf16 = new Uint8Array(8 + header.length + file.length - 8 - n);
    new DataView(bf16.buffer).setBigUint64(0, BigInt(header.length), true);
    bf16.set(header, 8);
    bf16.set(file.subarray(8 + n), 8 + header.length);
    const back = await importPeft(memorySource({ 'adapter_config.json': f16['adapter_config.json'], 'adapter_model.safetensors': bf16 }), c.spec);
    const key = 'base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight';
    const h = await readSafetensorsHeader(memorySource({ f: bf16 }), 'f');
    const t = h.tensors.get(key)!;
    const bits = new Uint16Array(bf16.slice(h.dataStart + t.begin, h.dataStart + t.end).buffer);
    expect(back.weights.get('model.layers.2.self_attn.q_proj')!.A).toEqual(bf16ToF32(bits));
  });
});

describe.skipIf(!SHARED_DIR)('importPeft refuses what it cannot load, naming the file and field or key', () => {
  /** The stories260K golden adapter with its config changed and/or extra or replaced tensors. */
  async function variant(configChange: Json, weights?: (w: Uint8Array) => Uint8Array) {
    const c = await goldenCase('stories260K-all-linear');
    const config = { ...(JSON.parse(readFileSync(join(c.dir, 'adapter_config.json'), 'utf8')) as Json), ...configChange };
    const w = readFileSync(join(c.dir, 'adapter_model.safetensors'));
    const files = { 'adapter_config.json': new TextEncoder().encode(JSON.stringify(config)), 'adapter_model.safetensors': weights ? weights(w) : new Uint8Array(w) };
    return { load: () => importPeft(memorySource(files, 'adapters/x'), c.spec), c };
  }

  const refused: Array<[Json, RegExp]> = [
    [{ peft_type: 'IA3' }, /adapter_config\.json: peft_type is "IA3"; only LoRA/],
    [{ use_dora: true }, /adapter_config\.json: use_dora is true: DoRA .* not supported/],
    [{ bias: 'lora_only' }, /bias is "lora_only": .*not supported/],
    [{ modules_to_save: ['lm_head'] }, /modules_to_save is \["lm_head"\]: .*not supported/],
    [{ rank_pattern: { q_proj: 8 } }, /rank_pattern .* not supported/],
    [{ alpha_pattern: { q_proj: 8 } }, /alpha_pattern .* not supported/],
    [{ layers_to_transform: [0, 1] }, /layers_to_transform is \[0,1\]: LoRA on only some layers is not supported/],
    [{ target_modules: ['q_proj', 'lm_head'] }, /target_modules: .*'lm_head' not in this llama model/],
    [{ target_modules: '.*layers\\.0\\.self_attn\\.q_proj' }, /selects some 'q_proj' modules but not 'model\.layers\.1\.self_attn\.q_proj'/],
    [{ r: 0 }, /r must be a positive integer/],
  ];
  for (const [change, message] of refused) {
    it(`refuses ${JSON.stringify(change)}`, async () => {
      await expect((await variant(change)).load()).rejects.toThrow(message);
    });
  }

  it('accepts all-linear, a regular expression and path suffixes that select whole module kinds', async () => {
    for (const target of ['all-linear', '.*\\.(q|k|v|o|gate|up|down)_proj', ['self_attn.q_proj', 'k_proj', 'v_proj', 'o_proj', 'mlp.gate_proj', 'up_proj', 'down_proj']]) {
      const a = await (await variant({ target_modules: target })).load();
      expect(a.modules.length).toBe(35);
    }
  });

  it('refuses unknown, missing, misshapen and non-float tensors, naming the key', async () => {
    const key = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
    const rewrite = (f: (t: Map<string, { dtype: string; shape: number[] }>) => void) => async (w: Uint8Array) => {
      const h = await readSafetensorsHeader(memorySource({ f: w }), 'f');
      const tensors = new Map([...h.tensors].map(([n, t]) => [n, { dtype: t.dtype as string, shape: [...t.shape] }]));
      f(tensors);
      return writeSafetensors([...tensors].map(([name, t]) => ({ name, dtype: t.dtype as 'F32', shape: t.shape, data: t.dtype === 'I32' ? new Int32Array(t.shape.reduce((a, b) => a * b, 1)) : new Float32Array(t.shape.reduce((a, b) => a * b, 1)) })), { format: 'pt' });
    };
    const cases: Array<[(t: Map<string, { dtype: string; shape: number[] }>) => void, RegExp]> = [
      [(t) => t.set('base_model.model.lm_head.lora_A.weight', { dtype: 'F32', shape: [4, 64] }), /adapter_model\.safetensors: unknown tensor 'base_model\.model\.lm_head\.lora_A\.weight'/],
      [(t) => t.delete(key), new RegExp(`adapter_model\\.safetensors: tensor '${key.replace(/\./g, '\\.')}' is missing`)],
      [(t) => t.set(key, { dtype: 'F32', shape: [4, 63] }), /has shape \[4, 63\], expected \[4, 64\]/],
      [(t) => t.set(key, { dtype: 'I32', shape: [4, 64] }), /has dtype I32; LoRA factors must be F32, F16 or BF16/],
    ];
    for (const [change, message] of cases) {
      const v = await variant({});
      const c = v.c;
      const bytes = await rewrite(change)(readFileSync(join(c.dir, 'adapter_model.safetensors')));
      const files = { 'adapter_config.json': readFileSync(join(c.dir, 'adapter_config.json')), 'adapter_model.safetensors': bytes };
      await expect(importPeft(memorySource(files, 'adapters/x'), c.spec)).rejects.toThrow(message);
    }
  });

  it('says that only safetensors adapters are supported when there is only adapter_model.bin', async () => {
    const c = await goldenCase('stories260K-all-linear');
    const files = { 'adapter_config.json': readFileSync(join(c.dir, 'adapter_config.json')), 'adapter_model.bin': new Uint8Array(8) };
    await expect(importPeft(memorySource(files, 'adapters/x'), c.spec)).rejects.toThrow(/adapter_model\.safetensors is missing\. It has adapter_model\.bin.*only safetensors adapters are/);
  });
});

describe("Python's json.dumps layout", () => {
  it('writes floats as repr does', () => {
    const cases: Array<[number, string]> = [[0, '0.0'], [0.05, '0.05'], [1e-5, '1e-05'], [0.0001, '0.0001'], [1.5e-7, '1.5e-07'], [16, '16.0'], [1e16, '1e+16'], [123456.75, '123456.75']];
    for (const [x, s] of cases) expect(pythonFloat(x)).toBe(s);
  });
  it('sorts keys, indents by two and escapes non-ASCII', () => {
    expect(pythonJson({ b: [1, 'é'], a: {}, c: [] })).toBe('{\n  "a": {},\n  "b": [\n    1,\n    "\\u00e9"\n  ],\n  "c": []\n}');
  });
});
