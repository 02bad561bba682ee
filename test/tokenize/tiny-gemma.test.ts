// The tokenizer that tiny-gemma.ts makes for tiny-random-gemma3, loaded the way the demo and the
// engine load it (TextTokenizer over the folder): its ids sit below the model's vocab_size of 384,
// with <pad>, <eos>, <bos> where config.json puts them; text round-trips through encode and decode
// (English learned as merges, Korean through byte fallback, and Korean learned as merges when the
// pairs are Korean); Gemma 3's chat template renders with <bos>, <start_of_turn> and
// <end_of_turn> as one id each; and the folder's files are what a model folder needs.
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { SHARED_DIR } from '../helpers.js';
import { PAIRS } from '../e2e/demo-steps.js';
import { trainBpe, trainingWords } from './bpe-train.js';
import { suiteTitle } from './fixtures.js';
import { TURN_END, TURN_START, writeTinyGemmaFolder, type Pair, type TinyGemmaFolder } from './tiny-gemma.js';

const KOREAN_PAIRS: Pair[] = [
  ['고양이는 어디에 있나요?', '고양이는 상자 안에 있어요.'],
  ['릴리는 누구예요?', '릴리는 여자아이예요.'],
];
const KOREAN = '안녕하세요! 고양이는 상자 안에 있어요. 내일 다시 만나요 🐈';
const TEXTS = ['Who is Lily?', 'Lily is a girl.', 'Where is the cat?', 'A dog, not a cat:  two spaces\nand a new line\n\n', 'naïve café — 3.14'];

describe('bpe-train', () => {
  it('cuts words before each ▁ and around each line break', () => {
    expect(trainingWords('user\nWho is  Lily?\n\n')).toEqual(['user', '\n', 'Who', '▁is', '▁', '▁Lily?', '\n', '\n']);
  });

  it('learns the most frequent pair first, stays within its budget, and leaves the rest to bytes', () => {
    const m = trainBpe(['aab aab aab ab'], 6);
    // Words 'aab', '▁aab' (twice), '▁ab'. Characters by frequency: a (7), b (4), ▁ (3). Pairs: a·b
    // (4) beats a·a and ▁·a (3 each); then a·ab (3) beats ▁·a (2); then ▁·aab (2): six tokens.
    expect(m.characters).toEqual(['a', 'b', '▁']);
    expect(m.merges).toEqual([['a', 'b'], ['a', 'ab'], ['▁', 'aab']]);
    expect(m.tokens).toEqual(['a', 'b', '▁', 'ab', 'aab', '▁aab']);
    expect(trainBpe(['가나다'], 2).characters).toHaveLength(2);
    expect(trainBpe(['가나다'], 2).merges).toEqual([]);
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('the tiny-random-gemma3 folder with a generated tokenizer'), () => {
  const folders: TinyGemmaFolder[] = [];
  afterAll(() => folders.forEach((f) => f.remove()));
  const make = async (pairs: readonly Pair[]) => {
    const folder = writeTinyGemmaFolder(pairs, SHARED_DIR!);
    folders.push(folder);
    return { folder, tok: await TextTokenizer.load(folderSource(folder.dir)) };
  };

  it("keeps every id below config.json's vocab_size, with the specials at the config's ids", async () => {
    const { folder, tok } = await make(PAIRS);
    const config = JSON.parse(readFileSync(join(SHARED_DIR!, 'models', 'tiny-random-gemma3', 'config.json'), 'utf8'));
    expect(folder.vocabSize).toBe(config.vocab_size);
    expect(config.vocab_size).toBe(384);
    expect(tok.vocabSize).toBe(folder.tokenCount);
    expect(tok.vocabSize).toBeLessThanOrEqual(384);
    // The learned part is not empty: words of the pairs became tokens of their own.
    expect(tok.vocabSize).toBeGreaterThan(262 + 20);
    expect(tok.tokenToId('<pad>')).toBe(config.pad_token_id);
    expect(tok.tokenToId('<eos>')).toBe(config.eos_token_id);
    expect(tok.tokenToId('<bos>')).toBe(config.bos_token_id);
    expect([tok.padTokenId, tok.bosTokenId, tok.eosTokenId]).toEqual([0, 2, folder.ids.turnEnd]);
    expect(tok.idToToken(folder.ids.turnStart)).toBe(TURN_START);
    for (const text of [...TEXTS, KOREAN, ...PAIRS.flat()]) {
      const ids = tok.encode(text);
      expect(Math.max(...ids), text).toBeLessThan(384);
      expect(Math.min(...ids), text).toBeGreaterThanOrEqual(0);
    }
  });

  it('round-trips text, Korean included, through encode and decode', async () => {
    const { tok } = await make(PAIRS);
    for (const text of [...TEXTS, KOREAN, ...PAIRS.flat()]) {
      const ids = tok.encode(text);
      expect(ids[0], text).toBe(2); // <bos>, as Gemma's add_bos_token asks
      expect(tok.decode(ids), text).toBe(text);
      expect(tok.encode(text, { addSpecialTokens: false }), text).toEqual(ids.slice(1));
    }
    // Every word of the pairs is one learned id (the budget covers them all); a Hangul syllable
    // that the pairs never had is its three UTF-8 bytes.
    for (const word of PAIRS.flat().flatMap(trainingWords)) {
      expect(tok.encode(word.replace('▁', ' '), { addSpecialTokens: false }).map((i) => tok.idToToken(i)), word).toEqual([word]);
    }
    expect(tok.encode('고', { addSpecialTokens: false }).map((i) => tok.idToToken(i))).toEqual(['<0xEA>', '<0xB3>', '<0xA0>']);
  });

  it('learns Korean words from Korean pairs and round-trips them', async () => {
    const { tok } = await make(KOREAN_PAIRS);
    const ids = tok.encode('고양이는 상자 안에 있어요.', { addSpecialTokens: false });
    const tokens = ids.map((i) => tok.idToToken(i)!);
    expect(tokens).toContain('고양이는');
    expect(tokens.every((t) => !t.startsWith('<0x')), tokens.join(' ')).toBe(true);
    for (const text of [KOREAN, ...KOREAN_PAIRS.flat(), ...TEXTS]) {
      const all = tok.encode(text);
      expect(Math.max(...all), text).toBeLessThan(384);
      expect(tok.decode(all), text).toBe(text);
    }
  });

  it("renders Gemma 3's chat template with its special tokens as single ids", async () => {
    const { folder, tok } = await make(PAIRS);
    const gemma = JSON.parse(readFileSync(join(SHARED_DIR!, 'models', 'gemma3-vocab', 'tokenizer_config.json'), 'utf8'));
    expect(tok.chatTemplate).toBe(gemma.chat_template);
    const [question, answer] = PAIRS[0];
    const text = tok.applyChatTemplate([{ role: 'user', content: question }, { role: 'assistant', content: answer }]);
    expect(text).toBe(`<bos>${TURN_START}user\n${question}${TURN_END}\n${TURN_START}model\n${answer}${TURN_END}\n`);
    const ids = tok.encode(text, { addSpecialTokens: false });
    const { bos, turnStart, turnEnd } = folder.ids;
    expect(ids.filter((i) => i === bos)).toHaveLength(1);
    expect(ids[0]).toBe(bos);
    expect(ids.filter((i) => i === turnStart)).toHaveLength(2);
    expect(ids.filter((i) => i === turnEnd)).toHaveLength(2);
    // No '<' byte or character: every marker became its id, and the rest decodes back to the text.
    expect(ids.map((i) => tok.idToToken(i)).filter((t) => t === '<0x3C>' || t === '<')).toEqual([]);
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe(text);
    expect(tok.decode(ids)).toBe(`user\n${question}\nmodel\n${answer}\n`);
    const prompt = tok.applyChatTemplate([{ role: 'user', content: question }], { addGenerationPrompt: true });
    expect(prompt.endsWith(`${TURN_START}model\n`)).toBe(true);
  });

  it('refuses a pair that is not [input, output], naming it', () => {
    expect(() => writeTinyGemmaFolder([['Who?', 'Lily.', 'extra']], SHARED_DIR!)).toThrow(/pair 0 must be \[input, output\]/);
  });

  it('writes a whole model folder whose generation stops at <end_of_turn>, as Gemma 3 does', async () => {
    const { folder } = await make(PAIRS);
    const fixture = join(SHARED_DIR!, 'models', 'tiny-random-gemma3');
    for (const file of ['config.json', 'model.safetensors']) {
      expect(lstatSync(join(folder.dir, file)).isSymbolicLink(), file).toBe(true);
      expect(readFileSync(join(folder.dir, file)).equals(readFileSync(join(fixture, file))), file).toBe(true);
    }
    const generation = JSON.parse(readFileSync(join(folder.dir, 'generation_config.json'), 'utf8'));
    expect(generation.eos_token_id).toEqual([1, folder.ids.turnEnd]);
    expect(generation.bos_token_id).toBe(2);
    folder.remove();
    expect(existsSync(folder.dir)).toBe(false);
  });
});
