// The fast BPE (src/tokenize/fast-bpe.ts) against @huggingface/tokenizers' own bpe(), on every
// real tokenizer in ../shared/models: the same pieces for seeded fuzzed words (ASCII, Korean,
// emoji, whitespace runs, digits, punctuation, long runs of one character, random code points),
// and the same ids from a whole encode() of fuzzed texts with the fast path on and off.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BPE, Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { bpePieces, MergeTable, useFastBpe } from '../../src/tokenize/fast-bpe.js';
import { prng, type Rng } from '../model/fuzz-files.js';
import { SHARED_DIR } from '../helpers.js';
import { modelDir, suiteTitle } from './fixtures.js';

const TOKENIZERS = ['stories260K', 'tiny-random-gpt2', 'qwen2.5-vocab', 'llama3-vocab', 'gemma3-vocab'];
const WORDS = ['Once', ' upon', ' a', ' time', 'the', 'sun', 'ing', 'tion', '안녕하세요', ' 고객님', '주문', '😀', '👩‍👩‍👧', 'é', 'ñ', '中文', 'ĠĠ', '▁', '<s>', '</s>', '<|im_start|>'];

/** One fuzzed piece of text. */
function fuzzSegment(rng: Rng): string {
  switch (rng.int(9)) {
    case 0: return rng.pick(WORDS);
    case 1: return String.fromCodePoint(0xac00 + rng.int(11172)); // a Hangul syllable
    case 2: return String.fromCodePoint(0x1f300 + rng.int(700)); // an emoji
    case 3: return rng.pick([' ', '  ', '\n', '\n\n', '\t', ' \n ', '\r\n']);
    case 4: return String(rng.int(100000));
    case 5: return rng.pick(['.', ',', '!', '?', "'s", '--', '...', '"', '(', ')', '#', '*']);
    case 6: return rng.pick(['a', 'e', ' ', '가', '0']).repeat(1 + rng.int(300)); // long runs: not cached, many merges
    case 7: return String.fromCodePoint(0x20 + rng.int(0x2fff)); // any BMP character from space on
    default: return 'abcdefghijklmnopqrstuvwxyz'.slice(rng.int(20), 20 + rng.int(6));
  }
}

function fuzzText(rng: Rng, segments: number): string {
  let text = '';
  for (let k = 0; k < segments; k++) text += fuzzSegment(rng);
  return text;
}

const loadLibraryTokenizer = (name: string): Tokenizer => {
  const json = JSON.parse(readFileSync(join(modelDir(name), 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(modelDir(name), 'tokenizer_config.json'), 'utf8'));
  return new Tokenizer({ normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json }, config);
};

describe.skipIf(!SHARED_DIR)(suiteTitle('fast BPE = the library BPE'), () => {
  for (const name of TOKENIZERS) {
    it(`${name}: the same pieces for 600 fuzzed words and the same ids for 60 fuzzed texts`, () => {
      const library = loadLibraryTokenizer(name);
      const model = (library as unknown as { model: BPE & { clear_cache(): void; merges: Array<[string, string]>; bpe(w: string): string[] } }).model;
      expect(model).toBeInstanceOf(BPE);
      const table = new MergeTable(model.merges);
      const rng = prng(1234);
      let merged = 0;
      for (let k = 0; k < 600; k++) {
        const word = fuzzText(rng, 1 + rng.int(8));
        const want = model.bpe(word);
        expect(bpePieces(word, table), `word ${k} ${JSON.stringify(word.slice(0, 40))}`).toEqual(want);
        merged += Array.from(word).length - want.length;
      }
      expect(merged, 'the fuzzed words exercise merges').toBeGreaterThan(300);

      const texts = Array.from({ length: 60 }, () => fuzzText(rng, 5 + rng.int(40)));
      const want = texts.map((text) => library.encode(text).ids);
      model.clear_cache();
      expect(useFastBpe(library)).toBe(true);
      texts.forEach((text, k) => expect(library.encode(text).ids, `text ${k}`).toEqual(want[k]));
    }, 60_000);
  }
});
