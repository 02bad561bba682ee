// The demo's model list (demo/ui/model-catalog.ts): the six models in order, the gated ones
// marked, each config the same as the benchmark's copy of that published config, each download
// size consistent with the parameters its config gives (bf16: two bytes each), and the memory
// line the list shows for them. A config this build cannot read yet is skipped, saying so.
import { describe, expect, it } from 'vitest';
import { GEMMA3_270M, LLAMA32_1B, parameterCount, QWEN25_05B, QWEN3_06B, SMOLLM2_135M } from '../../bench/models.js';
import { CATALOG, DEFAULT_MODEL_ID, downloadSize } from '../../demo/ui/model-catalog.js';
import { memoryLine, memorySize } from '../../demo/ui/model-list.js';
import { parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { DEFAULT_TRAINING_CONFIG } from '../../src/train/config.js';

/** The fields that shape a model (what the memory estimate reads). */
const SHAPE = ['model_type', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'vocab_size', 'max_position_embeddings', 'tie_word_embeddings', 'rope_theta', 'rope_scaling', 'sliding_window', 'layer_types'];

const trySpec = (config: object, where: string): ModelSpec | string => {
  try {
    return parseModelConfig(config, where);
  } catch (e) {
    return (e as Error).message;
  }
};

describe('the demo model list', () => {
  it('offers the six models, SmolLM2-135M-Instruct first (the default), Gemma and Llama gated', () => {
    expect(CATALOG.map((m) => m.id)).toEqual([
      'HuggingFaceTB/SmolLM2-135M-Instruct',
      'HuggingFaceTB/SmolLM2-360M-Instruct',
      'Qwen/Qwen2.5-0.5B-Instruct',
      'Qwen/Qwen3-0.6B',
      'google/gemma-3-270m-it',
      'meta-llama/Llama-3.2-1B-Instruct',
    ]);
    expect(DEFAULT_MODEL_ID).toBe('HuggingFaceTB/SmolLM2-135M-Instruct');
    expect(CATALOG.filter((m) => m.gated).map((m) => m.id)).toEqual(['google/gemma-3-270m-it', 'meta-llama/Llama-3.2-1B-Instruct']);
    expect(CATALOG.find((m) => m.id.startsWith('Qwen/Qwen2.5'))!.note).toMatch(/Korean/);
    expect(CATALOG.map((m) => downloadSize(m.downloadBytes))).toEqual(['269 MB', '724 MB', '988 MB', '1.50 GB', '536 MB', '2.47 GB']);
  });

  it("has the benchmark's configs of the same published models", () => {
    const same: Array<[string, Record<string, unknown>, 'all' | 'shape']> = [
      ['HuggingFaceTB/SmolLM2-135M-Instruct', SMOLLM2_135M, 'shape'], // the bench has the base model: other token ids
      ['Qwen/Qwen2.5-0.5B-Instruct', QWEN25_05B, 'shape'],
      ['Qwen/Qwen3-0.6B', QWEN3_06B, 'all'],
      ['google/gemma-3-270m-it', GEMMA3_270M, 'all'],
      ['meta-llama/Llama-3.2-1B-Instruct', LLAMA32_1B, 'all'],
    ];
    for (const [id, bench, how] of same) {
      const demo = CATALOG.find((m) => m.id === id)!.config;
      for (const key of how === 'all' ? Object.keys(demo) : SHAPE) expect(demo[key], `${id}: ${key}`).toEqual(bench[key]);
    }
  });

  for (const m of CATALOG) {
    const spec = trySpec(m.config, m.id);
    const refused = typeof spec === 'string' ? spec : null;
    if (refused) console.warn(`skipping the ${m.label} size and estimate test: this build refuses its config: ${refused}`);
    it.skipIf(refused !== null)(`${m.label}: its download is two bytes a stored parameter, and the list shows its training memory${refused ? ` (skipped: ${refused})` : ''}`, () => {
      const s = spec as ModelSpec;
      // Qwen3-0.6B's file stores lm_head as well, although the config ties it to the embedding.
      const stored = parameterCount(s) + (m.id === 'Qwen/Qwen3-0.6B' ? s.V * s.C : 0);
      expect(Math.abs(m.downloadBytes - 2 * stored) / (2 * stored), `${m.downloadBytes} vs 2 × ${stored}`).toBeLessThan(0.01);
      const line = memoryLine(s, {}, false);
      const T = Math.min(DEFAULT_TRAINING_CONFIG.maxLength, s.maxPositions);
      expect(line).toMatch(new RegExp(`^training: ≈ [\\d.]+ (GiB|MiB) of GPU memory \\(batches of ${DEFAULT_TRAINING_CONFIG.batchSize} × ${T} tokens, f32 weights\\); [\\d.]+ (GiB|MiB) with f16 weights and gradient checkpointing$`));
      expect(memoryLine(s, { gradientCheckpointing: true }, true)).toMatch(/^training: ≈ [\d.]+ (GiB|MiB) of GPU memory \(batches of \d+ × \d+ tokens, f16 weights, gradient checkpointing\)$/);
    });
  }

  it('says why where there is no estimate', () => {
    expect(memoryLine('config.json has model_type "x", which is not supported', {}, false)).toBe('memory estimate: this build cannot read its config yet (config.json has model_type "x", which is not supported)');
    const smol = parseModelConfig(CATALOG[0].config, 'smol');
    expect(memoryLine(smol, null, false)).toBe('memory estimate: fix the training settings to see it');
    expect(memoryLine(smol, { batchSize: 0 }, false)).toMatch(/^memory estimate: training config: batchSize/);
    expect([memorySize(3 * 2 ** 30), memorySize(200 * 2 ** 20)]).toEqual(['3.00 GiB', '200 MiB']);
  });
});
