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

/** A Gemma3TextConfig in transformers 5's layout (rope_parameters per layer type). */
const gemma = {
  model_type: 'gemma3_text',
  vocab_size: 100,
  hidden_size: 48,
  intermediate_size: 64,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  head_dim: 32,
  query_pre_attn_scalar: 20,
  sliding_window: 4,
  layer_types: ['sliding_attention', 'sliding_attention', 'full_attention'],
  rope_parameters: { sliding_attention: { rope_type: 'default', rope_theta: 10000 }, full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 } },
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

/** The Gemma switches of every spec that is not Gemma's. */
const PLAIN = { normOnePlusWeight: false, embedScale: 1, mlpActivation: 'silu', postNorms: false, attnScale: null, attnSoftcap: null, finalSoftcap: null } as const;

describe.skipIf(!SHARED_DIR)('the specs of the fixture models', () => {
  const spec = async (name: string) => loadModelSpec(folderSource(join(SHARED_DIR ?? '', 'models', name)));

  it('stories260K (llama)', async () => {
    const { spec: s, generationConfig } = await spec('stories260K');
    expect(s).toEqual<ModelSpec>({
      modelType: 'llama', arch: 'llama', V: 512, C: 64, L: 5, NH: 8, KV: 4, HS: 8, F: 172, maxPositions: 512,
      normEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false,
      qkNorm: false, bosTokenId: 1, eosTokenIds: [2], ...PLAIN,
      ropes: [{ type: 'default', theta: 10000 }], layers: Array.from({ length: 5 }, () => ({ rope: 0, window: null })),
    });
    expect(generationConfig).toEqual({ eosTokenIds: [2], bosTokenId: 1 });
  });

  it('tiny-random-gpt2 (F from n_inner = null → 4·C, not intermediate_size 37)', async () => {
    const { spec: s } = await spec('tiny-random-gpt2');
    expect(s).toEqual<ModelSpec>({
      modelType: 'gpt2', arch: 'gpt2', V: 1000, C: 32, L: 5, NH: 4, KV: 4, HS: 8, F: 128, maxPositions: 512,
      normEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true, qkvBias: true, oBias: true, mlpBias: true,
      qkNorm: false, bosTokenId: 98, eosTokenIds: [98], ...PLAIN,
      ropes: [], layers: Array.from({ length: 5 }, () => ({ rope: null, window: null })),
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

describe.skipIf(!SHARED_DIR)('the specs of the newer fixture models', () => {
  const spec = async (name: string) => (await loadModelSpec(folderSource(join(SHARED_DIR ?? '', 'models', name)))).spec;

  it('tiny-random-gemma3 (gemma3_text, rope_parameters per layer type)', async () => {
    const s = await spec('tiny-random-gemma3');
    expect(s).toMatchObject({ modelType: 'gemma3_text', arch: 'llama', V: 384, C: 64, L: 3, NH: 2, KV: 1, HS: 256, F: 96, maxPositions: 512, normEps: 1e-6 });
    expect(s).toMatchObject({ qkNorm: true, tieWordEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false, bosTokenId: 2, eosTokenIds: [1] });
    expect(s).toMatchObject({ normOnePlusWeight: true, embedScale: 8, mlpActivation: 'gelu_tanh', postNorms: true, attnScale: 1 / 16, attnSoftcap: null, finalSoftcap: null });
    expect(s.ropes).toEqual([{ type: 'default', theta: 10000 }, { type: 'default', theta: 1e6 }]);
    expect(s.layers).toEqual([{ rope: 0, window: 5 }, { rope: 0, window: 5 }, { rope: 1, window: null }]);
  });

  it('tiny-random-llama3 (llama3 RoPE scaling, bf16 weights)', async () => {
    const s = await spec('tiny-random-llama3');
    expect(s).toMatchObject({ modelType: 'llama', HS: 16, ropeTheta: 5e5, maxPositions: 131072, ...PLAIN });
    expect(s.ropes).toEqual([{ type: 'llama3', theta: 5e5, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 }]);
    expect(s.layers).toEqual([{ rope: 0, window: null }, { rope: 0, window: null }]);
  });

  it('tiny-random-smollm3 (no RoPE where no_rope_layers is 0)', async () => {
    const s = await spec('tiny-random-smollm3');
    expect(s).toMatchObject({ modelType: 'smollm3', C: 48, L: 4, NH: 4, KV: 2, HS: 12, ropeTheta: 2e6, tieWordEmbeddings: true, ...PLAIN });
    expect(s.ropes).toEqual([{ type: 'default', theta: 2e6 }]);
    expect(s.layers.map((l) => l.rope)).toEqual([0, null, 0, null]);
    expect(s.layers.every((l) => l.window === null)).toBe(true);
  });
});

describe('parseModelConfig rules and defaults', () => {
  it('reads Gemma 3 in the layouts of transformers 4 and 5 alike, and inside a gemma3 config', () => {
    const t5 = parseModelConfig(gemma, 'x');
    const { rope_parameters: _, layer_types: __, ...rest } = gemma;
    // transformers 4: rope_theta (full layers) with rope_scaling, rope_local_base_freq (sliding), a pattern.
    const t4 = parseModelConfig({ ...rest, rope_theta: 1e6, rope_local_base_freq: 10000, rope_scaling: { rope_type: 'linear', factor: 8 }, _sliding_window_pattern: 3 }, 'x');
    expect(t4).toEqual(t5);
    expect(t5.ropes).toEqual([{ type: 'default', theta: 10000 }, { type: 'linear', theta: 1e6, factor: 8 }]);
    expect(t5.layers).toEqual([{ rope: 0, window: 4 }, { rope: 0, window: 4 }, { rope: 1, window: null }]);
    expect(t5).toMatchObject({ HS: 32, attnScale: 20 ** -0.5, embedScale: Math.fround(Math.sqrt(48)), tieWordEmbeddings: true, maxPositions: 131072 });
    // Released configs keep the thetas out of rope_parameters; the pattern defaults to 6.
    const hub = parseModelConfig({ ...rest, num_hidden_layers: 7, rope_theta: 1e6, rope_local_base_freq: 1e4, rope_parameters: { full_attention: { rope_type: 'linear', factor: 8 }, sliding_attention: { rope_type: 'default' } } }, 'x');
    expect(hub.layers.map((l) => l.rope)).toEqual([0, 0, 0, 0, 0, 1, 0]);
    expect(hub.ropes).toEqual(t5.ropes);
    // Gemma3TextConfig's defaults: θ 1e6 (full) and 1e4 (sliding), head_dim 256, window 4096, every 6th layer full.
    const defaults = parseModelConfig({ ...rest, num_hidden_layers: 6, head_dim: undefined, sliding_window: undefined, query_pre_attn_scalar: undefined, final_logit_softcapping: 30 }, 'x');
    expect(defaults).toMatchObject({ HS: 256, attnScale: 1 / 16, finalSoftcap: 30, ropes: [{ type: 'default', theta: 10000 }, { type: 'default', theta: 1e6 }] });
    expect(defaults.layers[0].window).toBe(4096);
    const multimodal = parseModelConfig({ model_type: 'gemma3', text_config: { ...gemma, model_type: 'gemma3_text' }, eos_token_id: [1, 106] }, 'x');
    expect(multimodal).toEqual({ ...t5, modelType: 'gemma3', eosTokenIds: [1, 106] });
  });

  it('reads llama3 and linear RoPE scaling in either field, and SmolLM3 NoPE layers', () => {
    const llama3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const want = { type: 'llama3', theta: 5e5, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
    expect(parseModelConfig({ ...llama, rope_theta: 5e5, rope_scaling: llama3 }, 'x').ropes).toEqual([want]);
    expect(parseModelConfig({ ...llama, rope_parameters: { ...llama3, rope_theta: 5e5 } }, 'x').ropes).toEqual([want]);
    expect(parseModelConfig({ ...llama, model_type: 'qwen2', rope_scaling: { type: 'linear', factor: 2 } }, 'x').ropes).toEqual([{ type: 'linear', theta: 10000, factor: 2 }]);
    // SmolLM3Config: every no_rope_layer_interval-th layer (default 4) is NoPE; θ 2e6.
    const smol = parseModelConfig({ ...llama, model_type: 'smollm3', num_hidden_layers: 8 }, 'x');
    expect(smol.layers.map((l) => l.rope)).toEqual([0, 0, 0, null, 0, 0, 0, null]);
    expect(smol).toMatchObject({ ropeTheta: 2e6, tieWordEmbeddings: true, maxPositions: 32768 });
    // Its sliding window, where use_sliding_window turns it on: on the NoPE layers.
    const sliding = parseModelConfig({ ...llama, model_type: 'smollm3', no_rope_layers: [1, 0], use_sliding_window: true, sliding_window: 7 }, 'x');
    expect(sliding.layers).toEqual([{ rope: 0, window: null }, { rope: null, window: 7 }]);
  });


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
  it('an unsupported model_type, listing the supported ones', () =>
    expectConfigError({ ...llama, model_type: 'mamba' }, '"mamba"', 'supported model types: llama, qwen2, qwen3, gpt2, gemma3_text, gemma3, smollm3'));
  it('no model_type', () => expectConfigError({ hidden_size: 4 }, 'no model_type'));
  it('not an object', () => expectConfigError([1], 'not a JSON object'));
  it('a missing required field', () => expectConfigError({ ...llama, hidden_size: undefined }, 'hidden_size', 'missing'));
  it('an invalid field', () => expectConfigError({ ...llama, num_attention_heads: 0 }, 'num_attention_heads', 'positive integer'));
  it('a kv head count that does not divide the heads', () => expectConfigError({ ...llama, num_key_value_heads: 3 }, 'num_key_value_heads'));
  it('a width that is not a multiple of the heads', () => expectConfigError({ ...llama, num_attention_heads: 5 }, 'hidden_size', 'head_dim'));
  it('an unsupported rope_type (rope_scaling), listing the supported ones', () =>
    expectConfigError({ ...llama, rope_scaling: { rope_type: 'dynamic', factor: 8 } }, 'rope_scaling', '"dynamic"', 'not supported', 'supported rope types: default, linear, llama3'));
  it('an unsupported rope_type (rope_parameters, old "type" key)', () => expectConfigError({ ...llama, rope_parameters: { type: 'yarn' } }, 'rope_parameters', '"yarn"', 'default, linear, llama3'));
  it('an unsupported rope_type of one layer type (gemma3)', () =>
    expectConfigError({ ...gemma, rope_parameters: { full_attention: { rope_type: 'longrope' } } }, 'rope_parameters.full_attention', '"longrope"', 'default, linear, llama3'));
  it('llama3 RoPE without its fields', () => expectConfigError({ ...llama, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'rope_scaling', 'low_freq_factor', 'missing'));
  it('a linear RoPE without its factor', () => expectConfigError({ ...llama, rope_parameters: { rope_type: 'linear', rope_theta: 1e4 } }, 'rope_parameters', 'factor', 'missing'));
  it('partial rotary embeddings', () => expectConfigError({ ...llama, partial_rotary_factor: 0.5 }, 'partial_rotary_factor', '0.5'));
  it('gemma3 without text_config', () => expectConfigError({ model_type: 'gemma3' }, 'text_config'));
  it('a gemma3 activation other than the tanh GELU', () => expectConfigError({ ...gemma, hidden_activation: 'gelu' }, 'hidden_activation', '"gelu"'));
  it('bidirectional gemma3 attention', () => expectConfigError({ ...gemma, use_bidirectional_attention: true }, 'use_bidirectional_attention'));
  it('sliding layers without a window', () => expectConfigError({ ...gemma, sliding_window: null }, 'sliding_window', 'sliding_attention'));
  it('an unknown layer type', () => expectConfigError({ ...gemma, layer_types: ['full_attention', 'chunked_attention', 'full_attention'] }, 'layer_types', '"chunked_attention"'));
  it('smollm3 no_rope_layers that do not cover the layers', () => expectConfigError({ ...llama, model_type: 'smollm3', no_rope_layers: [1] }, 'no_rope_layers'));
  it('a llama activation other than silu', () => expectConfigError({ ...llama, hidden_act: 'gelu' }, 'hidden_act', '"gelu"'));
  it('a gpt2 activation other than gelu_new', () =>
    expectConfigError({ model_type: 'gpt2', vocab_size: 10, n_embd: 16, n_layer: 1, n_head: 2, activation_function: 'relu' }, 'activation_function', '"relu"'));
  it('sliding-window layers where they are not supported', () => {
    expectConfigError({ ...llama, model_type: 'qwen2', layer_types: ['full_attention', 'sliding_attention'] }, 'layer_types', 'sliding_attention');
    expectConfigError({ ...llama, model_type: 'qwen2', use_sliding_window: true }, 'use_sliding_window');
  });
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
