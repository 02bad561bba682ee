// The benchmark's model shapes (bench/hub-configs.ts, bench/models.ts): each published config gives
// the parameter count of the real model, its random weights load through the engine's loader (so
// the generated tensor names are the ones the loader reads: Gemma 3's four norms per layer
// included), and the built bench takes the new names on its command line. A config whose
// architecture this build of the engine does not take yet is skipped, saying so.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { benchModel, DEFAULT_MODEL_NAMES, llamaTensors, MODEL_NAMES, modelName, parameterCount, RANDOM_MODELS } from '../../bench/models.js';
import { parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { loadModelSpec, loadWeights } from '../../src/model/weights.js';
import { ensureBuilt } from '../setup/dist.js';

const root = join(import.meta.dirname, '..', '..');

/** The spec of a config, or why this build refuses it. */
function trySpec(config: object, where: string): ModelSpec | string {
  try {
    return parseModelConfig(config, where);
  } catch (e) {
    return (e as Error).message;
  }
}

/** Each shape: [C, L, NH, KV, HS, F, V] and the parameter count of the real model. */
const SHAPES: Record<string, { dims: number[]; parameters: number }> = {
  'smollm2-135m': { dims: [576, 30, 9, 3, 64, 1536, 49152], parameters: 134_515_008 },
  'qwen2.5-0.5b': { dims: [896, 24, 14, 2, 64, 4864, 151936], parameters: 494_032_768 },
  'qwen2.5-1.5b': { dims: [1536, 28, 12, 2, 128, 8960, 151936], parameters: 1_543_714_304 },
  'qwen3-0.6b': { dims: [1024, 28, 16, 8, 128, 3072, 151936], parameters: 596_049_920 },
  'llama3.2-1b': { dims: [2048, 16, 32, 8, 64, 8192, 128256], parameters: 1_235_814_400 },
  'llama3.2-3b': { dims: [3072, 28, 24, 8, 128, 8192, 128256], parameters: 3_212_749_824 },
  'gemma3-270m': { dims: [640, 18, 4, 1, 256, 2048, 262144], parameters: 268_098_176 },
  'gemma3-1b': { dims: [1152, 26, 4, 1, 256, 6912, 262144], parameters: 999_885_952 },
};

describe('benchmark shapes', () => {
  it('are every name the bench knows, with the default set unchanged', () => {
    expect([...MODEL_NAMES]).toEqual(['stories260K', ...Object.keys(SHAPES)]);
    expect([...DEFAULT_MODEL_NAMES]).toEqual(['stories260K', 'smollm2-135m', 'qwen2.5-0.5b']);
    expect(modelName(' Gemma3-270M ')).toBe('gemma3-270m');
    expect(modelName('LLAMA3.2-3B')).toBe('llama3.2-3b');
    expect(modelName('gemma3-4b')).toBeNull();
    expect(() => benchModel('gemma3-4b')).toThrow(/unknown model 'gemma3-4b'; the benchmark knows stories260K, smollm2-135m, .*gemma3-1b/);
    expect(benchModel('QWEN3-0.6B').name).toBe('qwen3-0.6b');
  });

  for (const [name, want] of Object.entries(SHAPES)) {
    const spec = trySpec(RANDOM_MODELS[name].config, name);
    const refused = typeof spec === 'string' ? spec : null;
    if (refused) console.warn(`skipping the ${name} shape test: this build refuses its config: ${refused}`);
    it.skipIf(refused !== null)(`${name} has the real model's dimensions and ${want.parameters.toLocaleString('en')} parameters${refused ? ` (skipped: ${refused})` : ''}`, () => {
      const s = spec as ModelSpec;
      expect([s.C, s.L, s.NH, s.KV, s.HS, s.F, s.V]).toEqual(want.dims);
      expect(s.tieWordEmbeddings).toBe(true);
      expect(parameterCount(s)).toBe(want.parameters);
    });
  }

  // Small versions of the new architectures: the random file must hold exactly the tensors the loader reads.
  const tiny = {
    'llama3.2 (Llama 3 RoPE scaling)': { ...RANDOM_MODELS['llama3.2-1b'].config, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, vocab_size: 64, max_position_embeddings: 256 },
    'gemma3_text (sandwich norms, q/k norms)': { ...RANDOM_MODELS['gemma3-270m'].config, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 6, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16, vocab_size: 64, max_position_embeddings: 128, sliding_window: 8, query_pre_attn_scalar: 16, layer_types: undefined },
    'qwen3 (head_dim ≠ hidden/heads)': { ...RANDOM_MODELS['qwen3-0.6b'].config, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, vocab_size: 64 },
  };
  for (const [what, config] of Object.entries(tiny)) {
    const refused = typeof trySpec(config, what) === 'string' ? (trySpec(config, what) as string) : null;
    if (refused) console.warn(`skipping the ${what} random-weights test: ${refused}`);
    it.skipIf(refused !== null)(`random ${what} weights load through the engine's loader${refused ? ` (skipped: ${refused})` : ''}`, async () => {
      const { randomModelSource } = await import('../../bench/models.js');
      const source = randomModelSource(config, 3, what);
      const { spec } = await loadModelSpec(source);
      const w = await loadWeights(source, spec);
      expect(w.layers).toHaveLength(spec.L);
      const names = llamaTensors(spec).map((t) => t.name);
      expect(new Set(names).size).toBe(names.length);
      const q = w.layers[0].q.data;
      expect(q.some((x) => x !== 0)).toBe(true);
    });
  }
});

describe('the built benchmark command line', () => {
  beforeAll(() => ensureBuilt('bench'), 300_000);
  const bench = (...args: string[]) => spawnSync(process.execPath, ['dist/bench/bench.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

  it('lists the new shapes in its help and refuses unknown names before touching the GPU', () => {
    const help = bench('--help');
    expect(help.status, help.stderr).toBe(0);
    for (const name of MODEL_NAMES) expect(help.stdout).toContain(name);
    const bad = bench('--models', 'Gemma3-270M,llama3.2-3b,gemma3-4b', '--memory-only');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--models: unknown gemma3-4b; the benchmark knows stories260K, smollm2-135m, qwen2.5-0.5b, qwen2.5-1.5b, qwen3-0.6b, llama3.2-1b, llama3.2-3b, gemma3-270m, gemma3-1b');
  });

  it('takes --weights f32, f16, nf4 and q8, and refuses others naming the four', () => {
    const help = bench('--help');
    expect(help.stdout).toContain('--weights f32|f16|nf4|q8');
    expect(help.stdout).toContain('the tfjs peer always runs f32');
    const bad = bench('--weights', 'nf8', '--memory-only');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--weights: 'nf8' is not one of f32, f16, nf4, q8");
  });
});
