// RoPE's inverse frequencies per rope type (src/model/rope.ts) against the formulas of
// transformers' modeling_rope_utils in double precision, and the model's tables: one [P, HS/2]
// block per distinct RoPE of spec.ropes, in order.
import { describe, expect, it } from 'vitest';
import { ropeTables } from '../../src/gpu/kernels/rope.js';
import { parseModelConfig, type RopeSpec } from '../../src/model/config.js';
import { inverseFrequencies, modelRopeTables } from '../../src/model/rope.js';
import { expectClose } from '../helpers.js';

/** _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters and _compute_llama3_parameters in f64. */
function invFreqRef(rope: RopeSpec, HS: number): { inv: number[]; band: string[] } {
  const base = Array.from({ length: HS / 2 }, (_, i) => 1 / rope.theta ** ((2 * i) / HS));
  if (rope.type === 'default') return { inv: base, band: base.map(() => 'kept') };
  if (rope.type === 'linear') return { inv: base.map((x) => x / rope.factor), band: base.map(() => 'scaled') };
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = rope;
  const band: string[] = [];
  const inv = base.map((x) => {
    const wavelen = (2 * Math.PI) / x;
    if (wavelen < old / high) return band.push('kept'), x;
    if (wavelen > old / low) return band.push('scaled'), x / factor;
    const s = (old / wavelen - low) / (high - low);
    band.push('smoothed');
    return (1 - s) * (x / factor) + s * x;
  });
  return { inv, band };
}

describe('inverseFrequencies', () => {
  const llama3 = { type: 'llama3', theta: 5e5, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 } as const;
  const cases: Array<[string, RopeSpec, number]> = [
    ['default', { type: 'default', theta: 1e4 }, 16],
    ['linear (Gemma 3 4B: factor 8)', { type: 'linear', theta: 1e6, factor: 8 }, 32],
    ['llama3 (tiny-random-llama3: every band at HS 16)', llama3, 16],
    ['llama3 (Llama 3.1: factor 8, 8192 positions, HS 128)', { type: 'llama3', theta: 5e5, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 }, 128],
  ];
  for (const [what, rope, HS] of cases) {
    it(`follows transformers' formula: ${what}`, () => {
      const got = inverseFrequencies(rope, HS);
      const { inv, band } = invFreqRef(rope, HS);
      expect(got).toBeInstanceOf(Float32Array);
      expectClose(got, inv, 0, 1e-6, 'inv_freq');
      if (rope.type === 'llama3') expect(new Set(band)).toEqual(new Set(['kept', 'smoothed', 'scaled']));
    });
  }

  it('leaves the unscaled frequencies exactly those of ropeTables', () => {
    const t = ropeTables(1e4, 8, 3);
    const ours = modelRopeTables(parseModelConfig({ model_type: 'llama', vocab_size: 4, hidden_size: 16, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 4, max_position_embeddings: 3 }, 'x'));
    expect(ours.cos).toEqual(t.cos);
    expect(ours.sin).toEqual(t.sin);
  });
});

describe('modelRopeTables', () => {
  it("keeps each distinct RoPE's [P, HS/2] block in spec.ropes order (Gemma 3: sliding, then full)", () => {
    const spec = parseModelConfig(
      {
        model_type: 'gemma3_text', vocab_size: 10, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 3, num_attention_heads: 1, head_dim: 4,
        max_position_embeddings: 6, sliding_window: 2, layer_types: ['sliding_attention', 'full_attention', 'sliding_attention'],
        rope_parameters: { sliding_attention: { rope_theta: 1e4 }, full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 } },
      },
      'x',
    );
    expect(spec.layers.map((l) => l.rope)).toEqual([0, 1, 0]);
    const { cos, sin } = modelRopeTables(spec);
    const block = 6 * 2;
    expect(cos.length).toBe(2 * block);
    expect(cos.subarray(0, block)).toEqual(ropeTables(1e4, 4, 6).cos);
    const inv = inverseFrequencies(spec.ropes[1], 4);
    for (let p = 0; p < 6; p++) {
      for (let i = 0; i < 2; i++) {
        expect(cos[block + p * 2 + i]).toBe(Math.fround(Math.cos(Math.fround(p * inv[i]))));
        expect(sin[block + p * 2 + i]).toBe(Math.fround(Math.sin(Math.fround(p * inv[i]))));
      }
    }
  });
});
