// A small byte-pair-encoding trainer for test tokenizers: from a few texts, the symbols (single
// characters) and merges of a BPE model in the layout of SentencePiece-style tokenizers such as
// Gemma's, where a space is written '▁' and starts the word after it.
//
// Training works on words: each text, its spaces replaced by '▁', is cut before every '▁' and
// on both sides of every line break ('user\nWho is' gives 'user', '\n', 'Who', '▁is'). A word
// starts as its characters; the characters the budget allows become symbols, most frequent first,
// and the others (which the tokenizer will write as bytes) are barriers that no merge crosses.
// Then, until the budget is spent or no two symbols sit side by side any more, the pair of
// neighbouring symbols that occurs most often (ties: the first in code-unit order of
// "left\0right") is merged everywhere, and the merged string becomes a symbol. A merge's right
// part never starts with '▁' (a '▁' only starts a word) and a line break is a word of its own, so
// no merge joins two words: running the merges over a whole text at once, as a tokenizer without
// a pre-tokenizer does, cuts it exactly as training cut each word.

export const SPACE = '▁';

export interface BpeModel {
  /** Single characters, most frequent first (ties in code-point order). */
  characters: string[];
  /** Merges in the order learned (= rank); each adds `left + right` to the vocabulary unless it is there already. */
  merges: [string, string][];
  /** characters, then the merged strings, each once, in the order they were added. */
  tokens: string[];
}

/** Words of `text` as training sees them: spaces written '▁', cut before each '▁' and around each '\n'. */
export function trainingWords(text: string): string[] {
  return text.replaceAll(' ', SPACE).split(/(?=▁)|(?<=\n)|(?=\n)/u).filter((w) => w.length > 0);
}

/**
 * Learns a BPE model of at most `budget` tokens (characters and merged strings together) from
 * `texts`. Deterministic: the same texts and budget give the same model.
 */
export function trainBpe(texts: string[], budget: number): BpeModel {
  if (!Number.isInteger(budget) || budget < 0) throw new Error(`trainBpe: budget must be a whole number ≥ 0, got ${budget}`);
  const wordCounts = new Map<string, number>();
  for (const text of texts) for (const w of trainingWords(text)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);

  const charCounts = new Map<string, number>();
  for (const [w, n] of wordCounts) for (const c of w) charCounts.set(c, (charCounts.get(c) ?? 0) + n);
  const characters = [...charCounts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0].codePointAt(0)! - b[0].codePointAt(0)!))
    .slice(0, budget)
    .map(([c]) => c);
  const known = new Set(characters);

  // Each word as its symbols; null marks a character left to bytes (a barrier).
  const words = [...wordCounts.entries()].map(([w, n]) => ({ symbols: Array.from(w, (c) => (known.has(c) ? c : null)), n }));
  const tokens = [...characters];
  const vocabulary = new Set(tokens);
  const merges: [string, string][] = [];

  while (tokens.length < budget) {
    const best = mostFrequentPair(words);
    if (best === null) break;
    const [left, right] = best;
    merges.push([left, right]);
    const merged = left + right;
    if (!vocabulary.has(merged)) {
      vocabulary.add(merged);
      tokens.push(merged);
    }
    for (const word of words) word.symbols = mergeAll(word.symbols, left, right);
  }
  return { characters, merges, tokens };
}

/** The most frequent pair of neighbouring symbols over all words (weighted by word counts), or null when there is none. */
function mostFrequentPair(words: { symbols: (string | null)[]; n: number }[]): [string, string] | null {
  const counts = new Map<string, number>();
  for (const { symbols, n } of words) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const a = symbols[i];
      const b = symbols[i + 1];
      if (a === null || b === null) continue;
      const key = `${a}\0${b}`;
      counts.set(key, (counts.get(key) ?? 0) + n);
    }
  }
  let bestKey: string | null = null;
  let bestCount = 0;
  for (const [key, n] of counts) {
    if (n > bestCount || (n === bestCount && bestKey !== null && key < bestKey)) {
      bestKey = key;
      bestCount = n;
    }
  }
  if (bestKey === null) return null;
  const cut = bestKey.indexOf('\0');
  return [bestKey.slice(0, cut), bestKey.slice(cut + 1)];
}

/** `symbols` with every occurrence of `left` followed by `right` joined, left to right. */
function mergeAll(symbols: (string | null)[], left: string, right: string): (string | null)[] {
  const out: (string | null)[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (symbols[i] === left && symbols[i + 1] === right) {
      out.push(left + right);
      i++;
    } else {
      out.push(symbols[i]);
    }
  }
  return out;
}
