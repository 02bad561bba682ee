// A faster word → BPE pieces for @huggingface/tokenizers' BPE model, giving exactly the pieces its
// own bpe() gives (test/tokenize/fast-bpe.test.ts compares the two on every real tokenizer of
// ../shared/models, on fuzzed text).
//
// Why: tokenizers without a pre-tokenizer (SentencePiece-style BPE: Llama 2, Gemma 3, stories260K)
// hand BPE the whole text as one word, and the library's bpe() spends about 1.5 µs per character
// on it (a JSON.stringify of every candidate pair, an object per node). A dataset of 200,000
// examples then takes minutes to tokenize before training can start.
//
// The rule (the library's and Hugging Face's): start from the word's characters; repeatedly merge
// the adjacent pair with the lowest merge rank, the leftmost one among equal ranks; stop when no
// adjacent pair is a merge. Here symbols are integers (every vocabulary token, merge part and merge
// result interned once), the pairs' ranks sit in a Map keyed by leftSymbol·2²¹ + rightSymbol, the
// word is a linked list over typed arrays, and a binary min-heap orders the candidate merges by
// rank·n + position (n = the word's length: the same order as the library's rank + position/n).
// A heap entry records the version of both nodes it joins; it is stale (skipped) once either
// node has merged since.
import { BPE, type Tokenizer } from '@huggingface/tokenizers';

/** Symbols are interned below this, so that a pair key (left · SYMBOL_LIMIT + right) stays an exact integer. */
const SYMBOL_LIMIT = 2 ** 21;

/** The fields of the library's BPE model that bpe() reads (they are public JavaScript fields). */
interface BpeModel {
  merges: Array<[string, string]>;
  end_of_word_suffix?: string | null;
  continuing_subword_suffix?: string | null;
  max_length_to_cache: number;
  cache: { get(key: string): string[] | undefined; put(key: string, value: string[]): void };
  bpe(word: string): string[];
}

/** Interned symbols and the merge table of one BPE model. */
class MergeTable {
  readonly ids = new Map<string, number>();
  readonly texts: string[] = [];
  /** pair key → rank · SYMBOL_LIMIT + merged symbol (both below 2²¹, so the pair packs exactly). */
  readonly merges = new Map<number, number>();

  constructor(pairs: Array<[string, string]>) {
    pairs.forEach(([a, b], rank) => {
      const left = this.intern(a);
      const right = this.intern(b);
      const merged = this.intern(a + b);
      if (left < 0 || right < 0 || merged < 0) throw new Error('too many BPE symbols for the fast path');
      // As in the library (a Map built in order), a pair listed twice keeps its last rank.
      this.merges.set(left * SYMBOL_LIMIT + right, rank * SYMBOL_LIMIT + merged);
    });
  }

  /** The symbol of `text`, interned if new; −1 once SYMBOL_LIMIT symbols exist. */
  intern(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      if (this.texts.length >= SYMBOL_LIMIT) return -1;
      id = this.texts.length;
      this.ids.set(text, id);
      this.texts.push(text);
    }
    return id;
  }
}

/** A binary min-heap of candidate merges: key (rank · n + position) and the two nodes with their versions. */
class MergeHeap {
  private keys: number[] = [];
  private entries: number[] = []; // 4 per entry: left, right, left version, right version
  size = 0;

  push(key: number, left: number, right: number, leftVersion: number, rightVersion: number): void {
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent] <= key) break;
      this.move(parent, i);
      i = parent;
    }
    this.set(i, key, left, right, leftVersion, rightVersion);
  }

  /** Removes the smallest entry into `out` (left, right, left version, right version). */
  pop(out: Int32Array): void {
    out[0] = this.entries[0];
    out[1] = this.entries[1];
    out[2] = this.entries[2];
    out[3] = this.entries[3];
    const last = --this.size;
    if (last === 0) return;
    const key = this.keys[last];
    const e = 4 * last;
    const l = this.entries[e];
    const r = this.entries[e + 1];
    const lv = this.entries[e + 2];
    const rv = this.entries[e + 3];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.keys[child + 1] < this.keys[child]) child++;
      if (this.keys[child] >= key) break;
      this.move(child, i);
      i = child;
    }
    this.set(i, key, l, r, lv, rv);
  }

  private move(from: number, to: number): void {
    this.keys[to] = this.keys[from];
    for (let k = 0; k < 4; k++) this.entries[4 * to + k] = this.entries[4 * from + k];
  }

  private set(i: number, key: number, left: number, right: number, leftVersion: number, rightVersion: number): void {
    this.keys[i] = key;
    this.entries[4 * i] = left;
    this.entries[4 * i + 1] = right;
    this.entries[4 * i + 2] = leftVersion;
    this.entries[4 * i + 3] = rightVersion;
  }
}

/** The BPE pieces of one word, by the rule above; null where a character cannot be interned (use the library's). */
export function bpePieces(word: string, table: MergeTable): string[] | null {
  const chars = Array.from(word);
  const n = chars.length;
  if (n <= 1) return chars;
  const symbol = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const id = table.intern(chars[k]);
    if (id < 0) return null;
    symbol[k] = id;
  }
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const version = new Int32Array(n); // −1: merged into the node before it
  for (let k = 0; k < n; k++) {
    next[k] = k + 1 < n ? k + 1 : -1;
    prev[k] = k - 1;
  }
  const heap = new MergeHeap();
  const consider = (left: number) => {
    const right = next[left];
    if (right < 0) return;
    const merge = table.merges.get(symbol[left] * SYMBOL_LIMIT + symbol[right]);
    if (merge === undefined) return;
    const rank = Math.floor(merge / SYMBOL_LIMIT);
    heap.push(rank * n + left, left, right, version[left], version[right]);
  };
  for (let k = 0; k + 1 < n; k++) consider(k);

  const top = new Int32Array(4);
  while (heap.size > 0) {
    heap.pop(top);
    const left = top[0];
    const right = top[1];
    if (version[left] !== top[2] || version[right] !== top[3] || next[left] !== right) continue;
    const merge = table.merges.get(symbol[left] * SYMBOL_LIMIT + symbol[right]) as number;
    symbol[left] = merge % SYMBOL_LIMIT;
    version[left]++;
    version[right] = -1;
    next[left] = next[right];
    if (next[left] >= 0) prev[next[left]] = left;
    if (prev[left] >= 0) consider(prev[left]);
    consider(left);
  }
  const pieces: string[] = [];
  for (let k = 0; k >= 0; k = next[k]) pieces.push(table.texts[symbol[k]]);
  return pieces;
}

/**
 * Words shorter than this keep the library's bpe(): they are cheap there (and mostly cached), and
 * a tokenizer whose pre-tokenizer cuts text into short words then never builds the merge table
 * (about 1.3 s for Gemma 3's 514,906 merges).
 */
const FAST_FROM_LENGTH = 32;

/**
 * Replaces the BPE model's bpe() of this tokenizer (an instance property: the library is not
 * touched) with the faster one for words of FAST_FROM_LENGTH characters or more, where the model
 * is BPE without the end-of-word or continuing suffixes (which no tokenizer here uses); the
 * library's cache is used as the library uses it. The merge table is built on the first such
 * word. Returns whether it did.
 */
export function useFastBpe(tokenizer: Tokenizer): boolean {
  const model = (tokenizer as unknown as { model: unknown }).model;
  if (!(model instanceof BPE)) return false;
  const bpe = model as unknown as BpeModel;
  if (bpe.end_of_word_suffix || bpe.continuing_subword_suffix || !Array.isArray(bpe.merges)) return false;
  const slow = bpe.bpe.bind(bpe);
  let table: MergeTable | null | undefined;
  bpe.bpe = (word: string): string[] => {
    if (word.length < FAST_FROM_LENGTH) return slow(word);
    const cached = bpe.cache.get(word);
    if (cached !== undefined) return cached;
    if (table === undefined) {
      try {
        table = new MergeTable(bpe.merges);
      } catch {
        table = null; // more symbols than the fast path packs: the library's bpe() from now on
      }
    }
    const pieces = table === null ? null : bpePieces(word, table);
    if (pieces === null) return slow(word);
    if (word.length < bpe.max_length_to_cache) bpe.cache.put(word, pieces);
    return pieces;
  };
  return true;
}

export { MergeTable };
