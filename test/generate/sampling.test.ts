import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, SeededRandom, validateSampling } from '../../src/generate/sampling.js';

const logits = Float32Array.from([1, 3, 2, 3, -1, 0.5]); // ids 1 and 3 tie for the maximum

function histogram(opts: Parameters<typeof sampleToken>[1], draws = 4000, seed = 1) {
  const rng = new SeededRandom(seed);
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, opts, rng)]++;
  return counts.map((c) => c / draws);
}

describe('sampling', () => {
  it('greedy is argmax, lowest id first among ties', () => {
    expect(argmax(logits)).toBe(1);
    expect(sampleToken(logits, { temperature: 0 }, new SeededRandom(0))).toBe(1);
    expect(argmax(logits, 2, 4)).toBe(1); // the window [2, 3, -1, 0.5]
  });

  it('temperature 1 draws from the softmax', () => {
    const freq = histogram({ temperature: 1 });
    const exp = Array.from(logits, (x) => Math.exp(x));
    const total = exp.reduce((a, b) => a + b);
    freq.forEach((f, i) => expect(Math.abs(f - exp[i] / total)).toBeLessThan(0.03));
  });

  it('top-k keeps only the k most likely ids', () => {
    const freq = histogram({ temperature: 1, topK: 2 });
    expect(freq[1] + freq[3]).toBe(1);
    expect(Math.abs(freq[1] - 0.5)).toBeLessThan(0.04);
  });

  it('top-p keeps the smallest set reaching p', () => {
    // Probabilities ≈ [.051, .378, .139, .378, .007, .031]: 0.7 needs ids 1 and 3 only.
    const freq = histogram({ temperature: 1, topP: 0.7 });
    expect(freq[1] + freq[3]).toBe(1);
    const wider = histogram({ temperature: 1, topP: 0.85 });
    expect(wider[2]).toBeGreaterThan(0.05);
    expect(wider[0] + wider[4] + wider[5]).toBe(0);
  });

  it('a seed gives the same draws; another seed different ones', () => {
    const run = (seed: number) => {
      const rng = new SeededRandom(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 2 }, rng));
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it('rejects bad options with the option named', () => {
    expect(() => validateSampling({ temperature: -1 })).toThrow(/temperature/);
    expect(() => validateSampling({ topK: 1.5 })).toThrow(/top-k/);
    expect(() => validateSampling({ topP: 0 })).toThrow(/top-p/);
  });
});
