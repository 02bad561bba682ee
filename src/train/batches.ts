// Seeded shuffles (validation split, per-epoch order) and padded batches.
//
// Randomness here comes from mulberry32, a 32-bit generator built only from 32-bit integer
// operations (Math.imul, shifts, xor), so the same seed gives the same order in every browser and
// Node version. Each use draws from its own stream: the seed and a stream number (the epoch, or
// SPLIT_STREAM for the validation split) are hashed together into the generator's state.
import { IGNORE_INDEX } from './format.js';

/** The stream number of the validation split (epochs use 0, 1, 2, ...). */
const SPLIT_STREAM = 0xffffffff;

/** murmur3's 32-bit finalizer: every input bit affects every output bit. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * mulberry32 (Tommy Ettinger's generator): uniform numbers in [0, 1), 32 random bits each. The
 * state starts from the hash of (seed, stream); the seed is taken modulo 2^32.
 */
export function mulberry32(seed: number, stream = 0): () => number {
  if (!Number.isInteger(seed)) throw new Error(`a seed must be an integer, not ${seed}`);
  let a = mix32((seed >>> 0) ^ mix32((stream + 0x9e3779b9) >>> 0));
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 0..n-1 in the order of a Fisher–Yates shuffle driven by `random`. */
function permutation(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, k) => k);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * The order in which epoch `epoch` (0, 1, ...) visits n training examples: a permutation of
 * 0..n-1 that depends only on (n, epoch, seed), different for each epoch.
 */
export function epochOrder(n: number, epoch: number, seed: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`the number of examples must be a non-negative integer, not ${n}`);
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= SPLIT_STREAM) throw new Error(`the epoch must be a non-negative integer, not ${epoch}`);
  return permutation(n, mulberry32(seed, epoch));
}

/**
 * The validation split holds at most this many examples, whatever the fraction: the whole split
 * is evaluated before the first step and at every evaluation, and 10 % of a 200,000-line file
 * (20,000 examples) would cost more than many runs' training (on SwiftShader here, 1,000
 * stories260K examples take about 2 minutes to evaluate, 100 about 12 s, which lets a
 * 200,000-example run finish its first step within a minute: test/e2e/cli-large-dataset.test.ts).
 * Over 100 examples the mean loss has a standard error of about 10 % of the spread of the
 * examples' losses (σ/√100), enough to follow a run, and the examples beyond the cap are trained
 * on instead. Files of up to 1,000 examples at the default 10 % never reach it.
 */
export const MAX_VALIDATION_EXAMPLES = 100;

/**
 * Holds out ⌈fraction·n⌉ examples for validation, at most `cap` (MAX_VALIDATION_EXAMPLES), at
 * least one when fraction > 0 and n ≥ 2, and never all of them: the last ones of a seeded shuffle.
 * Both parts keep the file's order.
 */
export function splitValidation<T>(examples: T[], fraction: number, seed: number, cap = MAX_VALIDATION_EXAMPLES): { train: T[]; validation: T[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`the validation fraction must be in [0, 1), not ${fraction}`);
  if (!(Number.isInteger(cap) && cap >= 1)) throw new Error(`the validation cap must be a positive integer, not ${cap}`);
  const n = examples.length;
  const count = fraction > 0 && n >= 2 ? Math.min(n - 1, cap, Math.max(1, Math.ceil(fraction * n))) : 0;
  const order = permutation(n, mulberry32(seed, SPLIT_STREAM));
  const held = new Set(order.slice(n - count));
  return {
    train: examples.filter((_, k) => !held.has(k)),
    validation: examples.filter((_, k) => held.has(k)),
  };
}

export interface Batch {
  /** Rows. */
  B: number;
  /** Tokens per row: the longest row, or the requested length. */
  T: number;
  /** (B, T) token ids, row-major; padId after each row's end. */
  ids: Int32Array;
  /** (B, T) labels; -100 on padding. */
  labels: Int32Array;
  /** (B, T) 1 on real tokens, 0 on padding. */
  attentionMask: Int32Array;
}

/**
 * Batches are padded to a length that is a multiple of this (paddedLength), so that a training run
 * meets few distinct shapes: the launches of a step whose shape was seen before reuse their bind
 * groups and uniform buffers (src/gpu/bind-cache.ts), where a new length would create all of them
 * again (about 2,000 for a 30-layer model). The padding is masked and has no label: it changes no
 * result, and costs at most 7 positions per row.
 */
export const LENGTH_MULTIPLE = 8;

/** The batch length for rows of at most `longest` tokens: rounded up to LENGTH_MULTIPLE, at most `cap` (the planned maximum). */
export function paddedLength(longest: number, cap: number): number {
  if (!(longest >= 1 && longest <= cap)) throw new Error(`paddedLength: rows of ${longest} tokens do not fit the planned ${cap}`);
  return Math.min(cap, Math.ceil(longest / LENGTH_MULTIPLE) * LENGTH_MULTIPLE);
}

/**
 * Rows of ids and labels right-padded into one (B, T) batch. T is the longest row, or `length`
 * when given (a trainer whose GPU buffers are planned for a fixed T passes it; it must be at
 * least the longest row).
 */
export function makeBatch(items: Array<{ ids: number[]; labels: number[] }>, padId: number, length?: number): Batch {
  if (items.length === 0) throw new Error('a batch needs at least one row');
  items.forEach((item, b) => {
    if (item.ids.length !== item.labels.length) {
      throw new Error(`batch row ${b} has ${item.ids.length} ids but ${item.labels.length} labels`);
    }
  });
  let longest = 0;
  for (const item of items) longest = Math.max(longest, item.ids.length);
  const T = length ?? longest;
  if (T < longest || T < 1) throw new Error(`a batch of length ${T} cannot hold a row of ${longest} tokens`);
  const B = items.length;
  const ids = new Int32Array(B * T).fill(padId);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const attentionMask = new Int32Array(B * T);
  items.forEach((item, b) => {
    ids.set(item.ids, b * T);
    labels.set(item.labels, b * T);
    attentionMask.fill(1, b * T, b * T + item.ids.length);
  });
  return { B, T, ids, labels, attentionMask };
}
