// The architecture mapping of ../../src/export/gguf/arch.ts without llama.cpp: the hyperparameter
// key/values of a config, the q/k row permutation on a small example, and the models llama.cpp
// cannot express, refused with the reason.
import { describe, expect, it } from 'vitest';
import { archKvs, loraTargetName, permuteHeadRows, permutedHeads } from '../../src/export/gguf/arch.js';
import { parseModelConfig } from '../../src/model/config.js';

const llama = { model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: 64, rope_theta: 5000 };
const values = (c: object) => Object.fromEntries(archKvs(parseModelConfig(c, 'config.json')).map((k) => [k.key, k.value]));

describe('GGUF architecture mapping', () => {
  it("writes llama.cpp's hyperparameter keys (key_length only where HS·NH ≠ C)", () => {
    const v = values(llama);
    expect(v).toEqual({
      'general.architecture': 'llama',
      'llama.vocab_size': 32,
      'llama.context_length': 64,
      'llama.embedding_length': 16,
      'llama.block_count': 2,
      'llama.feed_forward_length': 40,
      'llama.attention.head_count': 4,
      'llama.attention.head_count_kv': 2,
      'llama.attention.layer_norm_rms_epsilon': 1e-5,
      'llama.rope.dimension_count': 4,
      'llama.rope.freq_base': 5000,
    });
    const q = values({ ...llama, model_type: 'qwen3', head_dim: 8 });
    expect([q['general.architecture'], q['qwen3.attention.key_length'], q['qwen3.attention.value_length'], q['qwen3.rope.dimension_count']]).toEqual(['qwen3', 8, 8, 8]);
    const lin = values({ ...llama, rope_scaling: { rope_type: 'linear', factor: 4 } });
    expect([lin['llama.rope.scaling.type'], lin['llama.rope.scaling.factor']]).toEqual(['linear', 4]);
  });

  it('permutes the rows of each head from halves to pairs, for llama q and k only', () => {
    // 2 heads of HS 4, 1 column: rows [h0: 0 1 2 3 | h1: 4 5 6 7] → [0 2 1 3 | 4 6 5 7].
    expect([...permuteHeadRows(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 2, 1, 'x')]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    // Columns move with their row.
    expect([...permuteHeadRows(Float32Array.from([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]), 1, 2, 'x')]).toEqual([0, 0.5, 2, 2.5, 1, 1.5, 3, 3.5]);
    const spec = parseModelConfig(llama, 'c');
    expect([permutedHeads(spec, 'q'), permutedHeads(spec, 'k'), permutedHeads(spec, 'v')]).toEqual([4, 2, null]);
    expect(permutedHeads(parseModelConfig({ ...llama, model_type: 'qwen2' }, 'c'), 'q')).toBeNull();
    expect(() => permuteHeadRows(new Float32Array(6), 2, 1, 'blk.0 q')).toThrow(/blk.0 q: 6 values are not 2 heads/);
    expect(loraTargetName(spec, 3, 'down')).toBe('blk.3.ffn_down.weight');
  });

  it('refuses what llama.cpp cannot express, naming it', () => {
    expect(() => values({ ...llama, model_type: 'smollm3' })).toThrow(/model_type 'smollm3' is not supported/);
    expect(() => values({ ...llama, sliding_window: 8, layer_types: ['sliding_attention', 'full_attention'] })).toThrow(/sliding-window layers/);
    const gemma = { model_type: 'gemma3_text', vocab_size: 32, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, sliding_window: 4, layer_types: ['sliding_attention', 'full_attention'] };
    expect(values({ ...gemma, query_pre_attn_scalar: 8 })['gemma3.attention.sliding_window_pattern']).toBe(2);
    expect(() => values({ ...gemma, query_pre_attn_scalar: 32 })).toThrow(/scales attention by 0.176.*llama.cpp's gemma3 graph uses 0.353/);
  });
});
