// Seeded shuffles (reproducible, different across seeds and epochs) and padded batches.
import { describe, expect, it } from 'vitest';
import { epochOrder, LENGTH_MULTIPLE, makeBatch, mulberry32, paddedLength, splitValidation } from '../../src/train/batches.js';

const isPermutation = (order: number[], n: number) => [...order].sort((a, b) => a - b).every((v, k) => v === k) && order.length === n;

describe('mulberry32', () => {
  it('is deterministic, uniform-looking, and differs across seeds and streams', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(mulberry32(43)()).not.toBe(xs[0]);
    expect(mulberry32(42, 1)()).not.toBe(xs[0]);
    expect(() => mulberry32(1.5)).toThrow(/integer/);
  });
});

describe('epochOrder', () => {
  it('is a permutation, reproducible, and different across epochs and seeds', () => {
    const o = epochOrder(50, 0, 7);
    expect(isPermutation(o, 50)).toBe(true);
    expect(epochOrder(50, 0, 7)).toEqual(o);
    expect(epochOrder(50, 1, 7)).not.toEqual(o);
    expect(epochOrder(50, 0, 8)).not.toEqual(o);
    expect(o).not.toEqual(Array.from({ length: 50 }, (_, k) => k));
  });

  it('pins exact orders, so that a change of generator is noticed', () => {
    // Computed independently (a Python transcription of mix32, mulberry32 and Fisher–Yates).
    expect(epochOrder(10, 0, 0)).toEqual([2, 1, 7, 5, 9, 0, 4, 8, 3, 6]);
    expect(epochOrder(10, 3, 1234)).toEqual([7, 8, 9, 6, 3, 0, 1, 5, 4, 2]);
  });

  it('handles empty and one-element sets and rejects a bad epoch', () => {
    expect(epochOrder(0, 0, 1)).toEqual([]);
    expect(epochOrder(1, 5, 1)).toEqual([0]);
    expect(() => epochOrder(3, -1, 1)).toThrow(/epoch/);
  });
});

describe('splitValidation', () => {
  const items = Array.from({ length: 20 }, (_, k) => `ex${k}`);

  it('holds out ⌈fraction·n⌉ examples, reproducibly, keeping file order', () => {
    const { train, validation } = splitValidation(items, 0.12, 3);
    expect(validation).toHaveLength(3);
    expect(train).toHaveLength(17);
    expect([...train, ...validation].sort()).toEqual([...items].sort());
    expect(splitValidation(items, 0.12, 3)).toEqual({ train, validation });
    const index = (s: string) => items.indexOf(s);
    expect(validation.map(index)).toEqual([...validation.map(index)].sort((a, b) => a - b));
    expect(splitValidation(items, 0.12, 4).validation).not.toEqual(validation);
  });

  it('holds out at least one when fraction > 0 and n ≥ 2, none otherwise, and never all', () => {
    expect(splitValidation(items, 0.001, 1).validation).toHaveLength(1);
    expect(splitValidation(['a', 'b'], 0.9, 1).validation).toHaveLength(1);
    expect(splitValidation(['a'], 0.5, 1)).toEqual({ train: ['a'], validation: [] });
    expect(splitValidation(items, 0, 1)).toEqual({ train: items, validation: [] });
    expect(() => splitValidation(items, 1, 1)).toThrow(/fraction/);
  });
});

describe('makeBatch', () => {
  it('right-pads ids, labels and the attention mask to the longest row', () => {
    const batch = makeBatch(
      [
        { ids: [1, 5, 6], labels: [-100, 5, 6] },
        { ids: [1, 7, 8, 9, 2], labels: [-100, -100, 8, 9, 2] },
        { ids: [1], labels: [-100] },
      ],
      0,
    );
    expect(batch.B).toBe(3);
    expect(batch.T).toBe(5);
    expect(Array.from(batch.ids)).toEqual([1, 5, 6, 0, 0, 1, 7, 8, 9, 2, 1, 0, 0, 0, 0]);
    expect(Array.from(batch.labels)).toEqual([-100, 5, 6, -100, -100, -100, -100, 8, 9, 2, -100, -100, -100, -100, -100]);
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    expect(batch.ids).toBeInstanceOf(Int32Array);
  });

  it('pads to a fixed length when asked, and rejects rows that do not fit or do not match', () => {
    const batch = makeBatch([{ ids: [3, 4], labels: [-100, 4] }], 9, 4);
    expect(Array.from(batch.ids)).toEqual([3, 4, 9, 9]);
    expect(batch.T).toBe(4);
    expect(() => makeBatch([{ ids: [1, 2, 3], labels: [1, 2, 3] }], 0, 2)).toThrow(/cannot hold/);
    expect(() => makeBatch([{ ids: [1, 2], labels: [1] }], 0)).toThrow(/2 ids but 1 labels/);
    expect(() => makeBatch([], 0)).toThrow(/at least one row/);
  });
});

describe('paddedLength', () => {
  it('rounds a batch up to a multiple of LENGTH_MULTIPLE, never past the planned maximum', () => {
    expect(LENGTH_MULTIPLE).toBe(8);
    expect([1, 8, 9, 13, 16, 17].map((n) => paddedLength(n, 100))).toEqual([8, 8, 16, 16, 16, 24]);
    expect(paddedLength(97, 100)).toBe(100);
    expect(paddedLength(3, 5)).toBe(5);
    expect(() => paddedLength(101, 100)).toThrow(/rows of 101 tokens do not fit the planned 100/);
    expect(() => paddedLength(0, 100)).toThrow(/rows of 0 tokens/);
  });
});
