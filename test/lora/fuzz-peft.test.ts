// A seeded fuzz test of importPeft on untrusted adapter folders: a small deterministic PRNG edits
// the two files that exportPeft writes for tiny llama and GPT-2 models. adapter_config.json: r of
// 0, negative, huge or fractional, lora_alpha missing, NaN or infinite, target_modules unknown,
// empty, of the wrong type or a regular expression that backtracks without end, unsupported
// features switched on, fields of the wrong type, the bytes flipped or cut. adapter_model.safetensors:
// factors of the wrong rank, A and B swapped or transposed, wrong in/out sizes, one or three
// dimensions, missing or extra tensors, integer dtypes, NaN and infinite values, the bytes flipped
// or cut. Every outcome must be an adapter that fits the model (the modules the config selects,
// factors of r·in and out·r finite values) or an Error naming the file and the field or tensor:
// never a TypeError or RangeError, never a case that takes long.
import { describe, expect, it } from 'vitest';
import { checkAdapterWeights, initLoraAdapter, type LoraAdapter } from '../../src/lora/adapter.js';
import { resolveLoraModules, type LoraConfig } from '../../src/lora/config.js';
import { exportPeft, importPeft } from '../../src/lora/peft.js';
import { parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { readSafetensorsHeader, readTensorF32, SafetensorsError, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { memorySource } from '../../src/model/source.js';
import { prng, rawSafetensors, TINY_SPEC, type Rng } from '../model/fuzz-files.js';

const CASES = 3000;
const SEED = 0x9ef7;
const CASE_MS = 1000; // far above a tiny adapter's import; a backtracking regular expression takes seconds to forever
const CONFIG = 'mem/adapter_config.json';
const WEIGHTS = 'mem/adapter_model.safetensors';

const GPT2_SPEC = parseModelConfig({ model_type: 'gpt2', vocab_size: 30, n_embd: 8, n_head: 2, n_layer: 2, n_positions: 16 }, 'test');

/** The valid adapters the edits start from: all-linear and a few modules, plain and rsLoRA, with B ≠ 0. */
function adapters(): Array<{ spec: ModelSpec; adapter: LoraAdapter }> {
  const make = (spec: ModelSpec, config: LoraConfig, seed: number) => {
    const adapter = initLoraAdapter(spec, config, seed, 'tiny/base');
    for (const w of adapter.weights.values()) w.B.forEach((_, i) => (w.B[i] = ((i * 7) % 5) / 8 - 0.25));
    return { spec, adapter };
  };
  return [
    make(TINY_SPEC, { r: 2, alpha: 4, targetModules: 'all-linear', useRslora: false, dropout: 0 }, 1),
    make(TINY_SPEC, { r: 1, alpha: 16, targetModules: ['q_proj', 'v_proj'], useRslora: true, dropout: 0.05 }, 2),
    make(GPT2_SPEC, { r: 2, alpha: 8, targetModules: ['c_attn', 'c_proj'], useRslora: false, dropout: 0 }, 3),
    make(GPT2_SPEC, { r: 3, alpha: 3, targetModules: 'all-linear', useRslora: false, dropout: 0.1 }, 4),
  ];
}

const NUMBERS = [0, -1, 1, 2, 3, 4, 8, 1.5, 0.5, -0, 2 ** 31, 2 ** 40, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 1e-300];
/** Number literals JSON.stringify cannot write but a file can hold (JSON.parse reads 1e999 as Infinity; Python writes NaN). */
const RAW_NUMBERS = ['1e999', '-1e999', 'NaN', 'Infinity', '-Infinity', '1e-999', '08', '0x10'];
const TARGETS: unknown[] = [
  [], ['q_proj'], ['lm_head'], ['embed_tokens'], ['nonsense'], ['q_proj', 'nonsense'], ['c_attn'], ['c_fc', 'c_proj'], [1, 2], [['q_proj']], [null], 'all-linear',
  'q_proj', '.*', '.*\\.(q_proj|v_proj)', '.*\\.(c_attn|c_proj)', 'model\\.layers\\.0\\..*', '^(?!.*mlp).*proj$', '(', '[', '*', '(.*)*x', '(a+)+$', '.*.*.*.*.*.*.*.*.*x',
  '.{0,40}.{0,40}.{0,40}.{0,40}.{0,40}x', 'x'.repeat(2000), {}, null, 7, true,
];
const FIELDS = [
  'r', 'lora_alpha', 'lora_dropout', 'use_rslora', 'target_modules', 'peft_type', 'task_type', 'bias', 'use_dora', 'rank_pattern', 'alpha_pattern',
  'modules_to_save', 'layers_to_transform', 'init_lora_weights', 'fan_in_fan_out', 'base_model_name_or_path', 'exclude_modules', 'target_parameters', 'lora_bias',
];

function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 1 ? 4 : 6)) {
    case 0: return r.pick(NUMBERS);
    case 1: return r.pick(['', 'LORA', 'CAUSAL_LM', 'none', 'all', 'pissa', 'gaussian', 'q_proj', 'x'.repeat(r.int(300)), '__proto__']);
    case 2: return r.next() < 0.5;
    case 3: return null;
    case 4: return Array.from({ length: r.int(4) }, () => randomJson(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(3) }, () => [r.pick([...FIELDS, 'q_proj', '']), randomJson(r, depth + 1)]));
  }
}

/** One edit of adapter_config.json, as the text of the file. */
function mutateConfig(r: Rng, text: string): string {
  const c = JSON.parse(text) as Record<string, unknown>;
  const field = r.pick(FIELDS);
  switch (r.int(8)) {
    case 0: delete c[field]; break;
    case 1: c[r.pick(['r', 'lora_alpha', 'lora_dropout'])] = r.pick([...NUMBERS, '8', null, true, [8]]); break;
    case 2: c.target_modules = r.pick(TARGETS); break;
    case 3: c[r.pick(['use_dora', 'use_rslora', 'lora_bias', 'modules_to_save', 'rank_pattern', 'layers_to_transform', 'fan_in_fan_out', 'bias', 'init_lora_weights', 'peft_type', 'task_type'])] = randomJson(r); break;
    case 4: {
      // A number the JSON writer cannot make, in place of r, lora_alpha or lora_dropout.
      const key = r.pick(['r', 'lora_alpha', 'lora_dropout']);
      c[key] = '@RAW@';
      return JSON.stringify(c, null, 2).replace('"@RAW@"', r.pick(RAW_NUMBERS));
    }
    case 5: if (r.next() < 0.1) return JSON.stringify(randomJson(r)) ?? 'null'; c[field] = randomJson(r); break;
    case 6: {
      const out = JSON.stringify(c, null, 2);
      return r.next() < 0.5 ? out.slice(0, r.int(out.length)) : [...out].map((ch) => (r.next() < 0.01 ? r.pick(['"', '{', '}', ',', ':', '0', '\\', 'x']) : ch)).join('');
    }
    default: c[field] = randomJson(r);
  }
  return JSON.stringify(c, null, 2);
}

type Tensor = { name: string; dtype: string; shape: number[]; data: Float32Array };

/** One edit of the factors, written back as adapter_model.safetensors. */
function mutateWeights(r: Rng, tensors: Tensor[]): Uint8Array {
  const ts = tensors.map((t) => ({ ...t, shape: [...t.shape], data: t.data.slice() }));
  const t = r.pick(ts);
  const [rows, cols] = t.shape;
  const fill = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 3) % 7) / 10);
  const reshape = (shape: number[]) => ((t.shape = shape), (t.data = fill(shape)));
  switch (r.int(11)) {
    case 0: reshape([rows + r.pick([1, -1, 2]), cols].map((d) => Math.max(0, d))); break; // another rank (of A) or out (of B)
    case 1: reshape([rows, cols + r.pick([1, -1, 5])].map((d) => Math.max(0, d))); break; // another in (of A) or rank (of B)
    case 2: reshape([cols, rows]); break; // transposed
    case 3: {
      // A and B swapped.
      const other = ts.find((x) => x !== t && x.name.replace(/lora_[AB]/, '') === t.name.replace(/lora_[AB]/, ''));
      if (other) [t.name, other.name] = [other.name, t.name];
      break;
    }
    case 4: reshape(r.pick([[rows * cols], [1, rows, cols], [rows, cols, 1], []])); break;
    case 5: ts.splice(ts.indexOf(t), 1); break;
    case 6: {
      const name = r.pick([
        'base_model.model.lm_head.lora_A.weight', 'base_model.model.model.embed_tokens.lora_embedding_A', t.name.replace('.weight', '.default.weight'),
        t.name.replace('lora_A', 'lora_magnitude_vector').replace('lora_B', 'lora_magnitude_vector'), t.name.replace('layers.0', 'layers.7'), 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', 'x',
      ]);
      if (!ts.some((x) => x.name === name)) ts.push({ name, dtype: 'F32', shape: [...t.shape], data: t.data.slice() });
      break;
    }
    case 7: t.data[r.int(t.data.length)] = r.pick([NaN, Infinity, -Infinity]); break;
    case 8: t.dtype = r.pick(['F16', 'BF16', 'I32', 'F64', 'U8', 'BOOL', 'I64']); break;
    case 9: {
      const bytes = writeSafetensors(ts.map(toWrite), { format: 'pt' });
      if (r.next() < 0.5) return bytes.subarray(0, r.int(bytes.length));
      const out = bytes.slice();
      for (let k = 1 + r.int(4); k > 0; k--) out[r.int(Math.min(out.length, 400))] ^= 1 + r.int(255);
      return out;
    }
    default: ts.reverse(); // (order does not matter)
  }
  return raw(ts);
}

const toWrite = (t: Tensor): TensorToWrite => ({ name: t.name, dtype: t.dtype as TensorToWrite['dtype'], shape: t.shape, data: t.data });

/** A safetensors file of the tensors in any dtype (integers and F64 written as raw bytes of their values). */
function raw(ts: Tensor[]): Uint8Array {
  if (ts.every((t) => ['F32', 'F16', 'BF16'].includes(t.dtype))) return writeSafetensors(ts.map(toWrite), { format: 'pt' });
  return rawSafetensors(
    ts.map((t) => {
      const n = t.data.length;
      const bytes = (() => {
        switch (t.dtype) {
          case 'F32': return new Uint8Array(t.data.buffer);
          case 'F64': return new Uint8Array(Float64Array.from(t.data).buffer);
          case 'I32': return new Uint8Array(Int32Array.from(t.data, Math.round).buffer);
          case 'I64': return new Uint8Array(BigInt64Array.from(t.data, (x) => BigInt(Math.round(Number.isFinite(x) ? x : 0))).buffer);
          case 'F16':
          case 'BF16': return new Uint8Array(2 * n);
          default: return Uint8Array.from(t.data, (x) => (Number.isFinite(x) ? Math.abs(Math.round(x * 10)) & 1 : 0));
        }
      })();
      return { name: t.name, dtype: t.dtype, shape: t.shape, bytes };
    }),
  );
}

/** Throws unless the adapter fits the model: the config's modules, each with r·in and out·r finite values. */
function expectFits(adapter: LoraAdapter, spec: ModelSpec): void {
  const { r, alpha, dropout } = adapter.config;
  expect(Number.isSafeInteger(r) && r >= 1, `r ${r}`).toBe(true);
  expect(Number.isFinite(alpha) && alpha > 0, `alpha ${alpha}`).toBe(true);
  expect(dropout >= 0 && dropout < 1, `dropout ${dropout}`).toBe(true);
  expect(adapter.modules.map((m) => m.path)).toEqual(resolveLoraModules(spec, adapter.config).map((m) => m.path));
  expect(adapter.modules.length).toBeGreaterThan(0);
  checkAdapterWeights(adapter, 'the imported adapter');
  for (const w of adapter.weights.values()) expect(w.A.every(Number.isFinite) && w.B.every(Number.isFinite)).toBe(true);
}

describe('fuzzing importPeft', () => {
  it(`fuzzes ${CASES} edited adapter folders (seed ${SEED.toString(16)}): each an adapter that fits the model or an Error naming the file and the field or tensor`, async () => {
    const bases = await Promise.all(
      adapters().map(async ({ spec, adapter }) => {
        const files = exportPeft(adapter, spec);
        const source = memorySource({ f: files['adapter_model.safetensors'] });
        const header = await readSafetensorsHeader(source, 'f');
        const tensors = await Promise.all([...header.tensors.values()].map(async (t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: await readTensorF32(source, header, t.name) })));
        // Unchanged, each imports back exactly.
        const back = await importPeft(memorySource({ ...files }, 'mem'), spec);
        expect({ ...back.config, targetModules: null }).toEqual({ ...adapter.config, targetModules: null }); // ('all-linear' comes back as the names)
        expect(back.modules).toEqual(adapter.modules);
        for (const [path, w] of adapter.weights) expect(back.weights.get(path)).toEqual(w);
        return { spec, config: new TextDecoder().decode(files['adapter_config.json']), tensors, weights: files['adapter_model.safetensors'] };
      }),
    );

    const r = prng(SEED);
    const problems: string[] = [];
    const outcomes = { adapter: 0, configError: 0, weightsError: 0 };
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const b = bases[i % bases.length];
      const which = r.pick(['config', 'weights', 'both'] as const);
      let config = b.config;
      let weights = b.weights;
      if (which !== 'weights') config = mutateConfig(r, config);
      if (which !== 'config') weights = mutateWeights(r, b.tensors);
      const t0 = performance.now();
      try {
        const adapter = await importPeft(memorySource({ 'adapter_config.json': new TextEncoder().encode(config), 'adapter_model.safetensors': weights }, 'mem'), b.spec);
        expectFits(adapter, b.spec);
        outcomes.adapter++;
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        const detail = `case ${i} (${which}): ${e instanceof Error ? e.name : typeof e}: ${msg.slice(0, 300)}`;
        if ((e as Error)?.name === 'AssertionError') problems.push(`${detail}\n  ${config.slice(0, 300)}`);
        else if (!(e instanceof Error) || !['Error', 'SafetensorsError'].includes(e.name) || msg.length > 1000) problems.push(detail);
        else if (msg.includes(CONFIG)) {
          // The field: a key of the file, or the file as a whole.
          const namesField = [...FIELDS, 'not valid JSON', 'not a JSON object'].some((f) => msg.includes(f));
          if (namesField) outcomes.configError++;
          else problems.push(`${detail}\n  ${config.slice(0, 300)}`);
        } else if (msg.includes(WEIGHTS)) {
          // The tensor by its name, or (a SafetensorsError) the header the file could not be read past.
          if (/tensor '[^']+'/.test(msg) || e instanceof SafetensorsError) outcomes.weightsError++;
          else problems.push(detail);
        } else problems.push(detail);
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (ms > CASE_MS) problems.push(`case ${i} took ${ms.toFixed(0)} ms:\n  ${config.slice(0, 300)}`);
    }
    console.log(`fuzz-peft: ${CASES} adapters; ${outcomes.adapter} imported, ${outcomes.configError} refused for adapter_config.json, ${outcomes.weightsError} for adapter_model.safetensors; slowest case ${slowest.toFixed(1)} ms`);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(outcomes.adapter).toBeGreaterThan(CASES / 20);
    expect(outcomes.configError).toBeGreaterThan(CASES / 5);
    expect(outcomes.weightsError).toBeGreaterThan(CASES / 5);
  }, 60_000);

  it('names the field or the tensor in each kind of refusal', async () => {
    const [{ spec, adapter }] = adapters();
    const files = exportPeft(adapter, spec);
    const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json'])) as Record<string, unknown>;
    const load = (edit: Record<string, unknown>, weights = files['adapter_model.safetensors'], text?: string) =>
      importPeft(memorySource({ 'adapter_config.json': new TextEncoder().encode(text ?? JSON.stringify({ ...config, ...edit })), 'adapter_model.safetensors': weights }, 'mem'), spec);
    const q = 'base_model.model.model.layers.0.self_attn.q_proj';
    const tensors = (edit: (ts: TensorToWrite[]) => void) => {
      const ts: TensorToWrite[] = adapter.modules.flatMap((m) => [
        { name: `base_model.model.${m.path}.lora_A.weight`, dtype: 'F32', shape: [2, m.inFeatures], data: adapter.weights.get(m.path)!.A.slice() },
        { name: `base_model.model.${m.path}.lora_B.weight`, dtype: 'F32', shape: [m.outFeatures, 2], data: adapter.weights.get(m.path)!.B.slice() },
      ]);
      edit(ts);
      return writeSafetensors(ts, { format: 'pt' });
    };
    const cases: Array<[Promise<unknown>, RegExp]> = [
      [load({ r: 0 }), /adapter_config.json: r must be a positive integer, not 0/],
      [load({ r: -2 }), /adapter_config.json: r must be a positive integer, not -2/],
      [load({ r: 1.5 }), /adapter_config.json: r must be a positive integer, not 1.5/],
      [load({ r: 2 ** 40 }), new RegExp(`adapter_model.safetensors: tensor '${q}.lora_A.weight' has shape \\[2, 4\\], expected \\[1099511627776, 4\\]`)],
      [load({}, undefined, JSON.stringify(config).replace('"lora_alpha":4', '"lora_alpha":1e999')), /adapter_config.json: lora_alpha must be a positive number, not null/],
      [load({}, undefined, JSON.stringify(config).replace('"lora_alpha":4', '"lora_alpha":NaN')), /adapter_config.json is not valid JSON/],
      [load({ lora_alpha: '16' }), /adapter_config.json: lora_alpha must be a positive number, not "16"/],
      [load({ target_modules: [] }), /adapter_config.json: target_modules must be a non-empty list of module names or a regular expression, not \[\]/],
      [load({ target_modules: ['nonsense'] }), /adapter_config.json: target_modules: LoRA target module 'nonsense' not in this llama model/],
      [load({ target_modules: '(.*)*x' }), /adapter_config.json: target_modules "\(\.\*\)\*x" is a regular expression whose matching time cannot be bounded \(a group is repeated\)/],
      [load({ target_modules: '.*.*.*.*.*.*.*.*.*x' }), /adapter_config.json: target_modules ".*" is a regular expression whose matching time cannot be bounded \(9 repeats/],
      [load({ use_dora: true }), /adapter_config.json: use_dora is true: DoRA/],
      [load({}, tensors((ts) => ts.splice(0, 1))), new RegExp(`adapter_model.safetensors: tensor '${q}.lora_A.weight' is missing; expected shape \\[2, 4\\]`)],
      [load({}, tensors((ts) => ts.push({ ...ts[0], name: 'base_model.model.lm_head.lora_A.weight' }))), /adapter_model.safetensors: unknown tensor 'base_model.model.lm_head.lora_A.weight'/],
      [load({}, tensors((ts) => ([ts[0].name, ts[1].name] = [ts[1].name, ts[0].name]))), new RegExp(`tensor '${q}.lora_A.weight' has shape \\[4, 2\\], expected \\[2, 4\\]`)],
      [load({}, tensors((ts) => (ts[0].shape = [3, 4], ts[0].data = new Float32Array(12)))), new RegExp(`tensor '${q}.lora_A.weight' has shape \\[3, 4\\], expected \\[2, 4\\] \\(r 2, in 4, out 4\\)`)],
      [load({}, tensors((ts) => (ts[1].data[5] = NaN))), new RegExp(`adapter_model.safetensors: tensor '${q}.lora_B.weight' holds NaN at \\[2, 1\\]`)],
      [load({}, tensors((ts) => (ts[2].data[0] = -Infinity))), /tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight' holds -Infinity at \[0, 0\]/],
      [load({}, tensors((ts) => (ts[0].dtype = 'I32', ts[0].data = new Int32Array(8)))), new RegExp(`tensor '${q}.lora_A.weight' has dtype I32; LoRA factors must be F32, F16 or BF16`)],
    ];
    for (const [promise, message] of cases) await expect(promise, String(message)).rejects.toThrow(message);
  });
});
