// Learning-rate schedules against values worked out by hand from transformers' formulas
// (get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup, get_constant_schedule_with_warmup).
import { describe, expect, it } from 'vitest';
import { learningRateAt, lrFactor, warmupStepCount } from '../../src/train/schedule.js';

const factors = (schedule: 'linear' | 'cosine' | 'constant', total: number, warmup: number, steps: number[]) =>
  steps.map((k) => lrFactor(schedule, k, total, warmup));

describe('learning-rate schedules', () => {
  it('linear: warmup k/W, then (N − k)/(N − W) down to 0', () => {
    // N = 10, W = 2: 0, ½, then 8/8, 7/8, ..., 1/8, and 0 at k = N.
    expect(factors('linear', 10, 2, [0, 1, 2, 3, 6, 9, 10])).toEqual([0, 0.5, 1, 7 / 8, 4 / 8, 1 / 8, 0]);
    // No warmup, N = 4: 1, ¾, ½, ¼ (the first step uses the peak).
    expect(factors('linear', 4, 0, [0, 1, 2, 3])).toEqual([1, 0.75, 0.5, 0.25]);
  });

  it('cosine: warmup, then ½(1 + cos(π·(k − W)/(N − W)))', () => {
    const got = factors('cosine', 10, 2, [0, 1, 2, 4, 6, 8, 10]);
    // k = 4: p = ¼, ½(1 + cos(π/4)) = ½ + √2/4; k = 6: p = ½ → ½; k = 8: p = ¾ → ½ − √2/4.
    const want = [0, 0.5, 1, 0.5 + Math.SQRT2 / 4, 0.5, 0.5 - Math.SQRT2 / 4, 0];
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 14));
    // No warmup, N = 3: 1, ¾, ¼.
    factors('cosine', 3, 0, [0, 1, 2]).forEach((g, i) => expect(g).toBeCloseTo([1, 0.75, 0.25][i], 14));
  });

  it('constant: warmup, then the peak for ever', () => {
    expect(factors('constant', 10, 3, [0, 1, 2, 3, 9, 100])).toEqual([0, 1 / 3, 2 / 3, 1, 1, 1]);
    expect(factors('constant', 10, 0, [0, 5])).toEqual([1, 1]);
  });

  it('a warmup as long as the run never reaches the peak; one of one step still runs at the peak without warmup', () => {
    expect(factors('linear', 4, 4, [0, 1, 2, 3])).toEqual([0, 0.25, 0.5, 0.75]);
    expect(factors('linear', 1, 0, [0])).toEqual([1]);
    expect(factors('cosine', 1, 0, [0])).toEqual([1]);
  });

  it('warmup steps: the count when > 0, else ⌈N · ratio⌉', () => {
    expect(warmupStepCount(100, 0, 0.1)).toBe(10);
    expect(warmupStepCount(95, 0, 0.1)).toBe(10);
    expect(warmupStepCount(95, 3, 0)).toBe(3);
    expect(warmupStepCount(95, 0, 0)).toBe(0);
  });

  it('lr = peak · factor', () => {
    expect(learningRateAt({ learningRate: 2e-4, lrSchedule: 'linear' }, 6, 10, 2)).toBeCloseTo(1e-4, 18);
    expect(() => lrFactor('step' as never, 0, 1, 0)).toThrow(/unknown learning-rate schedule 'step'/);
  });
});
