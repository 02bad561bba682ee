import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelSpec, parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { memorySource, type ModelSource } from '../../src/model/source.js';
import { globalModuleName, layerModuleName, loadWeights, WeightsError, type ModelWeights } from '../../src/model/weights.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

if (!SHARED_DIR) console.warn(`skipping weights.test.ts: ${NO_SHARED_REASON}`);

const MODELS = join(SHARED_DIR ?? '', 'models');
const fixture = (name: string) => folderSource(join(MODELS, name));
const load = async (source: ModelSource) => loadWeights(source, (await loadModelSpec(source)).spec);

/** Every tensor of a fixture's model.safetensors, in file order (all fixtures are F32). */
async function fileTensors(name: string): Promise<TensorToWrite[]> {
  const src = fixture(name);
  const h = await readSafetensorsHeader(src, 'model.safetensors');
  return Promise.all([...h.tensors.values()].map(async (t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: await readTensorF32(src, h, t.name) })));
}

/** A fixture's config.json with a model.safetensors made of the given tensors, in memory. */
function memoryModel(name: string, tensors: TensorToWrite[], config?: object): ModelSource {
  const configBytes = config ? new TextEncoder().encode(JSON.stringify(config)) : readFileSync(join(MODELS, name, 'config.json'));
  return memorySource({ 'config.json': new Uint8Array(configBytes), 'model.safetensors': writeSafetensors(tensors, { format: 'pt' }) }, `mem-${name}`);
}

async function expectWeightsError(source: ModelSource, spec: ModelSpec | null, ...parts: string[]) {
  const err = await loadWeights(source, spec ?? (await loadModelSpec(source)).spec).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WeightsError);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

/** Every CpuTensor's shape in the loaded structure, by field path. */
function shapes(w: ModelWeights): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(w)) if (t && 'shape' in t) out[k] = t.shape;
  w.layers.forEach((layer, i) => {
    for (const [k, t] of Object.entries(layer)) {
      expect(t.data.length, `layers.${i}.${k}`).toBe(t.shape.reduce((a: number, b: number) => a * b, 1));
      if (i === 0) out[`layers.0.${k}`] = t.shape;
    }
  });
  return out;
}

describe.skipIf(!SHARED_DIR)('loadWeights on the fixture models', () => {
  it('stories260K: llama shapes, tied head', async () => {
    const w = await load(fixture('stories260K'));
    expect(w.layers.length).toBe(5);
    expect(shapes(w)).toEqual({
      embed: [512, 64], finalNorm: [64],
      'layers.0.attnNorm': [64], 'layers.0.q': [64, 64], 'layers.0.k': [32, 64], 'layers.0.v': [32, 64], 'layers.0.o': [64, 64],
      'layers.0.mlpNorm': [64], 'layers.0.gate': [172, 64], 'layers.0.up': [172, 64], 'layers.0.down': [64, 172],
    });
    expect(w.lmHead).toBeUndefined();
    const src = fixture('stories260K');
    const h = await readSafetensorsHeader(src, 'model.safetensors');
    expect(w.layers[3].k.data).toEqual(await readTensorF32(src, h, 'model.layers.3.self_attn.k_proj.weight'));
  });

  it('qwen2: q/k/v biases and an untied lm_head', async () => {
    const w = await load(fixture('tiny-random-qwen2'));
    const s = shapes(w);
    expect(s).toMatchObject({ embed: [300, 48], lmHead: [300, 48], 'layers.0.q': [48, 48], 'layers.0.k': [16, 48], 'layers.0.qBias': [48], 'layers.0.kBias': [16], 'layers.0.vBias': [16] });
    expect(s['layers.0.oBias']).toBeUndefined();
    expect(w.lmHead!.data).not.toEqual(w.embed.data);
  });

  it('qwen3: q/k norms of size HS = 16', async () => {
    const w = await load(fixture('tiny-random-qwen3'));
    expect(shapes(w)).toMatchObject({ 'layers.0.q': [64, 64], 'layers.0.k': [32, 64], 'layers.0.o': [64, 64], 'layers.0.qNorm': [16], 'layers.0.kNorm': [16] });
    expect(w.lmHead).toBeUndefined();
  });

  it('gpt2: Conv1D weights transposed to [out, in], c_attn split into q, k, v', async () => {
    const src = fixture('tiny-random-gpt2');
    const w = await load(src);
    expect(shapes(w)).toEqual({
      embed: [1000, 32], positions: [512, 32], finalNorm: [32], finalNormBias: [32],
      'layers.0.attnNorm': [32], 'layers.0.attnNormBias': [32], 'layers.0.q': [32, 32], 'layers.0.k': [32, 32], 'layers.0.v': [32, 32],
      'layers.0.qBias': [32], 'layers.0.kBias': [32], 'layers.0.vBias': [32], 'layers.0.o': [32, 32], 'layers.0.oBias': [32],
      'layers.0.mlpNorm': [32], 'layers.0.mlpNormBias': [32], 'layers.0.up': [128, 32], 'layers.0.upBias': [128], 'layers.0.down': [32, 128], 'layers.0.downBias': [32],
    });
    const h = await readSafetensorsHeader(src, 'model.safetensors');
    const raw = (n: string) => readTensorF32(src, h, `transformer.h.2.${n}`);
    const C = 32;
    const F = 128;
    const [cAttn, cAttnBias, cProj, cFc, mProj] = await Promise.all(['attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight'].map(raw));
    const L2 = w.layers[2];
    for (let r = 0; r < C; r++) {
      for (let c = 0; c < C; c++) {
        expect(L2.q.data[r * C + c]).toBe(cAttn[c * 3 * C + r]); // q[r][c] = c_attn.weight[c][r]
        expect(L2.k.data[r * C + c]).toBe(cAttn[c * 3 * C + C + r]); // k from columns C..2C
        expect(L2.v.data[r * C + c]).toBe(cAttn[c * 3 * C + 2 * C + r]);
        expect(L2.o.data[r * C + c]).toBe(cProj[c * C + r]);
      }
      expect([L2.qBias!.data[r], L2.kBias!.data[r], L2.vBias!.data[r]]).toEqual([cAttnBias[r], cAttnBias[C + r], cAttnBias[2 * C + r]]);
    }
    for (let f = 0; f < F; f += 7) {
      for (let c = 0; c < C; c++) {
        expect(L2.up.data[f * C + c]).toBe(cFc[c * F + f]); // c_fc [C, F] → up [F, C]
        expect(L2.down.data[c * F + f]).toBe(mProj[f * C + c]); // c_proj [F, C] → down [C, F]
      }
    }
  });

  it('accepts names without the transformer. prefix and ignores extra tensors', async () => {
    const tensors = (await fileTensors('tiny-random-gpt2')).map((t) => ({ ...t, name: t.name.replace(/^transformer\./, '') }));
    tensors.push({ name: 'h.0.attn.masked_bias', dtype: 'F32', shape: [1], data: new Float32Array(1) });
    expect(await load(memoryModel('tiny-random-gpt2', tensors))).toEqual(await load(fixture('tiny-random-gpt2')));
  });

  it('ignores lm_head.weight when the embeddings are tied', async () => {
    const tensors = await fileTensors('stories260K');
    tensors.push({ name: 'lm_head.weight', dtype: 'F32', shape: [512, 64], data: new Float32Array(512 * 64) });
    expect((await load(memoryModel('stories260K', tensors))).lmHead).toBeUndefined();
  });

  it('reports each tensor with a running count', async () => {
    const seen: [string, number, number][] = [];
    const src = fixture('tiny-random-qwen3');
    await loadWeights(src, (await loadModelSpec(src)).spec, (name, done, total) => seen.push([name, done, total]));
    // embed + 2 layers × 11 + final norm (tied: no lm_head)
    expect(seen.length).toBe(24);
    expect(seen[23]).toEqual(['model.norm.weight', 24, 24]);
  });
});

describe.skipIf(!SHARED_DIR)('loadWeights on the newer fixture models', () => {
  it('gemma3: q/k norms of HS = 256, the four norms of a block', async () => {
    const w = await load(fixture('tiny-random-gemma3'));
    expect(shapes(w)).toEqual({
      embed: [384, 64], finalNorm: [64],
      'layers.0.attnNorm': [64], 'layers.0.q': [512, 64], 'layers.0.k': [256, 64], 'layers.0.v': [256, 64], 'layers.0.o': [64, 512],
      'layers.0.qNorm': [256], 'layers.0.kNorm': [256], 'layers.0.postAttnNorm': [64], 'layers.0.mlpNorm': [64], 'layers.0.postMlpNorm': [64],
      'layers.0.gate': [96, 64], 'layers.0.up': [96, 64], 'layers.0.down': [64, 96],
    });
    // mlpNorm is pre_feedforward_layernorm, postAttnNorm post_attention_layernorm.
    const tensors = await fileTensors('tiny-random-gemma3');
    const byName = (n: string) => tensors.find((t) => t.name === n)!.data;
    expect(w.layers[1].mlpNorm.data).toEqual(byName('model.layers.1.pre_feedforward_layernorm.weight'));
    expect(w.layers[1].postAttnNorm!.data).toEqual(byName('model.layers.1.post_attention_layernorm.weight'));
    expect(w.layers[1].postMlpNorm!.data).toEqual(byName('model.layers.1.post_feedforward_layernorm.weight'));
  });

  it('llama3: BF16 tensors widen exactly to f32', async () => {
    const src = fixture('tiny-random-llama3');
    const h = await readSafetensorsHeader(src, 'model.safetensors');
    expect([...h.tensors.values()].every((t) => t.dtype === 'BF16')).toBe(true);
    const w = await load(src);
    const q = w.layers[0].q.data;
    // A bf16 value is the top half of an f32: the low 16 bits of every widened value are zero.
    expect(new Uint32Array(q.buffer, q.byteOffset, q.length).every((b) => (b & 0xffff) === 0)).toBe(true);
    const info = h.tensors.get('model.layers.0.self_attn.q_proj.weight')!;
    const raw = new Uint16Array((await src.read('model.safetensors', h.dataStart + info.begin, h.dataStart + info.end)).slice().buffer);
    expect(Array.from(new Uint32Array(q.buffer, q.byteOffset, q.length), (b) => b >>> 16)).toEqual(Array.from(raw));
  });

  it("gemma3 (multimodal): the text part under transformers 5's and 4's names, the vision tower ignored", async () => {
    const text = await load(fixture('tiny-random-gemma3'));
    const tensors = await fileTensors('tiny-random-gemma3');
    const textConfig = JSON.parse(readFileSync(join(MODELS, 'tiny-random-gemma3', 'config.json'), 'utf8'));
    const config = { model_type: 'gemma3', text_config: textConfig, vision_config: { hidden_size: 8 } };
    const vision = { name: 'model.vision_tower.vision_model.post_layernorm.weight', dtype: 'F32' as const, shape: [8], data: new Float32Array(8) };
    const t5 = tensors.map((t) => ({ ...t, name: t.name.replace(/^model\./, 'model.language_model.') }));
    const t4 = tensors.map((t) => ({ ...t, name: t.name.replace(/^model\./, 'language_model.model.') }));
    for (const [layout, named] of [['transformers 5', t5], ['transformers 4', t4]] as const) {
      const w = await load(memoryModel('tiny-random-gemma3', [...named, vision], config));
      expect(w, layout).toEqual(text);
    }
    const spec = parseModelConfig(config, 'x');
    expect(layerModuleName(spec, 2, 'q')).toBe('model.language_model.layers.2.self_attn.q_proj');
    expect(globalModuleName(spec, 'embed')).toBe('model.language_model.embed_tokens');
    await expectWeightsError(memoryModel('tiny-random-gemma3', [vision], config), null, "'model.language_model.embed_tokens.weight' (or 'language_model.model.embed_tokens.weight') is missing");
  });
});

describe.skipIf(!SHARED_DIR)('sharded checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-shards-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a 2-shard copy of qwen2 equal to the single file', async () => {
    const tensors = await fileTensors('tiny-random-qwen2');
    const half = Math.floor(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((list, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeFileSync(join(dir, file), writeSafetensors(list, { format: 'pt' }));
      for (const t of list) weightMap[t.name] = file;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    writeFileSync(join(dir, 'config.json'), readFileSync(join(MODELS, 'tiny-random-qwen2', 'config.json')));
    expect(await load(folderSource(dir))).toEqual(await load(fixture('tiny-random-qwen2')));
  });

  it('names the index when a tensor is missing from it, and the shard when the index is wrong', async () => {
    const spec = (await loadModelSpec(fixture('tiny-random-qwen2'))).spec;
    const shard = writeSafetensors([{ name: 'model.norm.weight', dtype: 'F32', shape: [48], data: new Float32Array(48) }]);
    const index = (map: object) => new TextEncoder().encode(JSON.stringify({ weight_map: map }));
    await expectWeightsError(memorySource({ 'model.safetensors.index.json': index({}), 's.safetensors': shard }, 'm'), spec,
      'm/model.safetensors.index.json', "tensor 'model.embed_tokens.weight'", 'missing');
    await expectWeightsError(memorySource({ 'model.safetensors.index.json': index({ 'model.embed_tokens.weight': 's.safetensors' }), 's.safetensors': shard }, 'm'), spec,
      "puts tensor 'model.embed_tokens.weight' in s.safetensors", 'm/s.safetensors does not have it');
  });
});

describe.skipIf(!SHARED_DIR)('weight errors name the file, the tensor and the shapes', () => {
  it('a missing tensor', async () => {
    const tensors = (await fileTensors('stories260K')).filter((t) => t.name !== 'model.layers.2.mlp.up_proj.weight');
    await expectWeightsError(memoryModel('stories260K', tensors), null,
      'mem-stories260K/model.safetensors', "tensor 'model.layers.2.mlp.up_proj.weight'", "(or 'layers.2.mlp.up_proj.weight')", 'missing', '[172, 64]');
  });

  it('a tensor of the wrong shape', async () => {
    const tensors = (await fileTensors('stories260K')).map((t) =>
      t.name === 'model.layers.1.self_attn.v_proj.weight' ? { ...t, shape: [64, 32] } : t,
    );
    await expectWeightsError(memoryModel('stories260K', tensors), null,
      'mem-stories260K/model.safetensors', "tensor 'model.layers.1.self_attn.v_proj.weight'", 'has shape [64, 32], expected [32, 64]');
  });

  it('a config that disagrees with the file', async () => {
    const config = JSON.parse(readFileSync(join(MODELS, 'stories260K', 'config.json'), 'utf8'));
    const spec = parseModelConfig({ ...config, intermediate_size: 100 }, 'x');
    await expectWeightsError(fixture('stories260K'), spec, 'stories260K/model.safetensors', "'model.layers.0.mlp.gate_proj.weight'", 'has shape [172, 64], expected [100, 64]');
  });

  it('an untied model without lm_head.weight', async () => {
    const tensors = (await fileTensors('tiny-random-qwen2')).filter((t) => t.name !== 'lm_head.weight');
    await expectWeightsError(memoryModel('tiny-random-qwen2', tensors), null, "tensor 'lm_head.weight' is missing");
  });

  it('a folder without safetensors weights', async () => {
    await expectWeightsError(memorySource({}, 'empty'), parseModelConfig({ model_type: 'llama', vocab_size: 1, hidden_size: 2, intermediate_size: 2, num_hidden_layers: 1, num_attention_heads: 1 }, 'x'),
      'empty has neither model.safetensors nor model.safetensors.index.json');
  });
});

describe('name helpers', () => {
  const llama = parseModelConfig({ model_type: 'llama', vocab_size: 8, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2 }, 'x');
  const gpt2 = parseModelConfig({ model_type: 'gpt2', vocab_size: 8, n_embd: 8, n_layer: 1, n_head: 2 }, 'x');
  it('map fields to Hugging Face module paths', () => {
    expect(layerModuleName(llama, 3, 'q')).toBe('model.layers.3.self_attn.q_proj');
    expect(layerModuleName(llama, 0, 'down')).toBe('model.layers.0.mlp.down_proj');
    expect(layerModuleName(gpt2, 1, 'v')).toBe('transformer.h.1.attn.c_attn');
    expect(layerModuleName(gpt2, 1, 'gate')).toBeNull();
    expect(globalModuleName(gpt2, 'positions')).toBe('transformer.wpe');
    expect(globalModuleName(llama, 'lmHead')).toBe('lm_head');
  });
});
