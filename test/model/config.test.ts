import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelSpec, ModelConfigError, parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { folderSource } from '../../src/model/source-node.js';
import { memorySource } from '../../src/model/source.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

if (!SHARED_DIR) console.warn(`skipping the fixture tests of config.test.ts: ${NO_SHARED_REASON}`);

const llama = {
  model_type: 'llama',
  vocab_size: 100,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
};

function expectConfigError(config: unknown, ...parts: string[]) {
  let err: unknown;
  try {
    parseModelConfig(config, 'here/config.json');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelConfigError);
  for (const p of ['here/config.json', ...parts]) expect((err as Error).message).toContain(p);
}

const json = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));

describe.skipIf(!SHARED_DIR)('the specs of the fixture models', () => {
  const spec = async (name: string) => loadModelSpec(folderSource(join(SHARED_DIR ?? '', 'models', name)));

  it('stories260K (llama)', async () => {
    const { spec: s, generationConfig } = await spec('stories260K');
    expect(s).toEqual<ModelSpec>({
      modelType: 'llama', arch: 'llama', V: 512, C: 64, L: 5, NH: 8, KV: 4, HS: 8, F: 172, maxPositions: 512,
      normEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false,
      qkNorm: false, bosTokenId: 1, eosTokenIds: [2],
    });
    expect(generationConfig).toEqual({ eosTokenIds: [2], bosTokenId: 1 });
  });

  it('tiny-random-gpt2 (F from n_inner = null → 4·C, not intermediate_size 37)', async () => {
    const { spec: s } = await spec('tiny-random-gpt2');
    expect(s).toEqual<ModelSpec>({
      modelType: 'gpt2', arch: 'gpt2', V: 1000, C: 32, L: 5, NH: 4, KV: 4, HS: 8, F: 128, maxPositions: 512,
      normEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true, qkvBias: true, oBias: true, mlpBias: true,
      qkNorm: false, bosTokenId: 98, eosTokenIds: [98],
    });
  });

  it('tiny-random-qwen2 (q/k/v bias, untied, rope_parameters.rope_theta)', async () => {
    const { spec: s, generationConfig } = await spec('tiny-random-qwen2');
    expect(s).toMatchObject({ modelType: 'qwen2', arch: 'llama', V: 300, C: 48, L: 3, NH: 6, KV: 2, HS: 8, F: 96, maxPositions: 256 });
    expect(s).toMatchObject({ qkvBias: true, oBias: false, mlpBias: false, qkNorm: false, tieWordEmbeddings: false, ropeTheta: 1e6, normEps: 1e-6 });
    expect(s).toMatchObject({ bosTokenId: null, eosTokenIds: [] });
    expect(generationConfig).toEqual({ eosTokenIds: [], bosTokenId: null });
  });

  it('tiny-random-qwen3 (q/k norm, head_dim 16 ≠ C/NH, tied)', async () => {
    const { spec: s } = await spec('tiny-random-qwen3');
    expect(s).toMatchObject({ modelType: 'qwen3', V: 320, C: 64, L: 2, NH: 4, KV: 2, HS: 16, F: 128, qkNorm: true, tieWordEmbeddings: true });
    expect(s).toMatchObject({ qkvBias: false, oBias: false, ropeTheta: 1e6 });
  });
});

describe('parseModelConfig rules and defaults', () => {
  it('takes the defaults of the transformers config classes', () => {
    const s = parseModelConfig(llama, 'x');
    expect(s).toMatchObject({ KV: 4, HS: 8, ropeTheta: 10000, normEps: 1e-6, maxPositions: 2048, tieWordEmbeddings: false, bosTokenId: null, eosTokenIds: [] });
    expect(parseModelConfig({ ...llama, model_type: 'qwen3' }, 'x').HS).toBe(128); // Qwen3Config(head_dim=128)
    expect(parseModelConfig({ ...llama, model_type: 'qwen2' }, 'x')).toMatchObject({ maxPositions: 32768, qkvBias: true, oBias: false });
    const gpt2 = parseModelConfig({ model_type: 'gpt2', vocab_size: 10, n_embd: 16, n_layer: 1, n_head: 2 }, 'x');
    expect(gpt2).toMatchObject({ F: 64, maxPositions: 1024, tieWordEmbeddings: true, HS: 8, KV: 2 });
    expect(parseModelConfig({ model_type: 'gpt2', vocab_size: 10, n_embd: 16, n_layer: 1, n_head: 2, n_inner: 40 }, 'x').F).toBe(40);
  });

  it('reads attention_bias, mlp_bias and eos_token_id in each form', () => {
    expect(parseModelConfig({ ...llama, attention_bias: true, mlp_bias: true }, 'x')).toMatchObject({ qkvBias: true, oBias: true, mlpBias: true });
    expect(parseModelConfig({ ...llama, model_type: 'qwen3', attention_bias: true }, 'x')).toMatchObject({ qkvBias: true, oBias: true, mlpBias: false });
    expect(parseModelConfig({ ...llama, eos_token_id: 7 }, 'x').eosTokenIds).toEqual([7]);
    expect(parseModelConfig({ ...llama, eos_token_id: [7, 9] }, 'x').eosTokenIds).toEqual([7, 9]);
    expect(parseModelConfig({ ...llama, eos_token_id: null }, 'x').eosTokenIds).toEqual([]);
    expect(parseModelConfig({ ...llama, rope_scaling: { rope_type: 'default' }, rope_theta: 5e5 }, 'x').ropeTheta).toBe(5e5);
  });
});

describe('config errors name the file and the field', () => {
  it('an unsupported model_type, listing the supported ones', () => expectConfigError({ ...llama, model_type: 'mamba' }, '"mamba"', 'llama, qwen2, qwen3, gpt2'));
  it('no model_type', () => expectConfigError({ hidden_size: 4 }, 'no model_type'));
  it('not an object', () => expectConfigError([1], 'not a JSON object'));
  it('a missing required field', () => expectConfigError({ ...llama, hidden_size: undefined }, 'hidden_size', 'missing'));
  it('an invalid field', () => expectConfigError({ ...llama, num_attention_heads: 0 }, 'num_attention_heads', 'positive integer'));
  it('a kv head count that does not divide the heads', () => expectConfigError({ ...llama, num_key_value_heads: 3 }, 'num_key_value_heads'));
  it('a width that is not a multiple of the heads', () => expectConfigError({ ...llama, num_attention_heads: 5 }, 'hidden_size', 'head_dim'));
  it('scaled RoPE (rope_scaling)', () => expectConfigError({ ...llama, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'rope_scaling', '"llama3"', 'not supported'));
  it('scaled RoPE (rope_parameters, old "type" key)', () => expectConfigError({ ...llama, rope_parameters: { type: 'yarn' } }, 'rope_parameters', '"yarn"'));
  it('a llama activation other than silu', () => expectConfigError({ ...llama, hidden_act: 'gelu' }, 'hidden_act', '"gelu"'));
  it('a gpt2 activation other than gelu_new', () =>
    expectConfigError({ model_type: 'gpt2', vocab_size: 10, n_embd: 16, n_layer: 1, n_head: 2, activation_function: 'relu' }, 'activation_function', '"relu"'));
  it('sliding-window layers', () => expectConfigError({ ...llama, model_type: 'qwen2', layer_types: ['full_attention', 'sliding_attention'] }, 'layer_types', 'sliding_attention'));
  it('a bad eos_token_id', () => expectConfigError({ ...llama, eos_token_id: 'x' }, 'eos_token_id'));
  it('a missing config.json', async () => {
    await expect(loadModelSpec(memorySource({}, 'some/folder'))).rejects.toThrow('some/folder/config.json is missing');
  });
});

describe('loadModelSpec and generation_config.json', () => {
  it('lets generation_config.json override eos_token_id (number or list) and bos_token_id', async () => {
    const files = { 'config.json': json({ ...llama, eos_token_id: 2, bos_token_id: 1 }), 'generation_config.json': json({ eos_token_id: [2, 5], bos_token_id: 0 }) };
    const { spec, generationConfig } = await loadModelSpec(memorySource(files));
    expect(spec.eosTokenIds).toEqual([2]);
    expect(generationConfig).toEqual({ eosTokenIds: [2, 5], bosTokenId: 0 });
  });

  it("keeps config.json's ids where generation_config.json has none", async () => {
    const files = { 'config.json': json({ ...llama, eos_token_id: [3, 4] }), 'generation_config.json': json({ do_sample: true }) };
    expect((await loadModelSpec(memorySource(files))).generationConfig).toEqual({ eosTokenIds: [3, 4], bosTokenId: null });
  });

  it('names generation_config.json when its ids are invalid, and config.json when it is not JSON', async () => {
    const bad = { 'config.json': json(llama), 'generation_config.json': json({ eos_token_id: -1 }) };
    await expect(loadModelSpec(memorySource(bad, 'm'))).rejects.toThrow('m/generation_config.json: eos_token_id');
    const broken = { 'config.json': new TextEncoder().encode('{"model_type": ') };
    await expect(loadModelSpec(memorySource(broken, 'm'))).rejects.toThrow('m/config.json is not valid JSON');
  });
});
