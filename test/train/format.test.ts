// Conversations → ids and labels in the plain template (stories260K: BOS added; tiny-random-gpt2:
// no BOS), with trainOnInputs, truncation, and formatPrompt as the prompt part of formatExample.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer, type ChatMessage } from '../../src/tokenize/tokenizer.js';
import { formatExample, formatPrompt, IGNORE_INDEX, plainPrompt, type FormatTokenizer } from '../../src/train/format.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer, modelDir, readModelJson, suiteTitle, tempFolder, type TempFolder } from '../tokenize/fixtures.js';

const KO_IN = '배송은 언제 오나요?';
const KO_OUT = '주문 후 2~3일 안에 도착합니다.';
const oneTurn = (input: string, output: string, system?: string): ChatMessage[] => [
  ...(system ? [{ role: 'system' as const, content: system }] : []),
  { role: 'user', content: input },
  { role: 'assistant', content: output },
];
/** The index of the first label that is not -100. */
const firstLearned = (labels: number[]) => labels.findIndex((l) => l !== IGNORE_INDEX);

describe.skipIf(!SHARED_DIR)(suiteTitle('formatExample: plain template'), () => {
  let tok: TextTokenizer;
  let gpt2: TextTokenizer;
  const folders: TempFolder[] = [];
  beforeAll(async () => {
    tok = await loadTokenizer('stories260K');
    gpt2 = await loadTokenizer('tiny-random-gpt2');
  });
  afterAll(() => folders.forEach((f) => f.remove()));
  const noSpecials = (text: string) => tok.encode(text, { addSpecialTokens: false });

  it('labels exactly the answer and its EOS, after a BOS-led prompt (stories260K)', () => {
    const { ids, labels, truncated, fullLength, trainableTokens } = formatExample(oneTurn(KO_IN, KO_OUT), tok);
    const prompt = tok.encode(plainPrompt(KO_IN));
    // Prompt and answer are tokenized as one text, and the prompt's tokens are its first ones.
    const whole = tok.encode(plainPrompt(KO_IN) + KO_OUT);
    expect(whole.slice(0, prompt.length)).toEqual(prompt);
    const answer = whole.slice(prompt.length);
    expect(prompt[0]).toBe(1);
    expect(ids).toEqual([...prompt, ...answer, 2]);
    expect(labels).toEqual([...prompt.map(() => IGNORE_INDEX), ...answer, 2]);
    // So the answer does not start with this Llama tokenizer's word-start mark (▁, a space), which
    // its normalizer puts at the start of any text encoded on its own.
    expect(tok.decode(ids)).toBe(`### Input:\n${KO_IN}\n\n### Output:\n${KO_OUT}`);
    expect(tok.decode(labels.filter((l) => l !== IGNORE_INDEX))).toBe(KO_OUT);
    expect({ truncated, fullLength, trainableTokens }).toEqual({ truncated: false, fullLength: ids.length, trainableTokens: answer.length + 1 });
  });

  it('an English answer starts with no space: its first token has no ▁, and it decodes after the prompt without one', () => {
    const story = 'Once upon a time there was a cat.';
    const { ids, labels } = formatExample(oneTurn('Tell me a story.', story), tok);
    const P = firstLearned(labels);
    expect(tok.idToToken(ids[P])!.startsWith('▁')).toBe(false);
    // Decoded after its prompt (as the generation stream decodes it), the answer is the text exactly.
    const promptText = tok.decode(ids.slice(0, P));
    expect(promptText).toBe(plainPrompt('Tell me a story.'));
    expect(tok.decode(ids.slice(0, -1)).slice(promptText.length)).toBe(story);
    // Encoded alone, the same answer would start with ▁ (the behaviour this avoids).
    expect(tok.idToToken(noSpecials(story)[0])!.startsWith('▁')).toBe(true);
  });

  it('falls back to separate encodings where prompt tokens would merge with the answer', () => {
    // A tokenizer whose encode() merges across the prompt's end: the prompt's ids are not a prefix.
    const merging: FormatTokenizer = {
      encode: (text, opts) => (text.endsWith('\nX') ? [...tok.encode(text.slice(0, -2), opts), 999] : tok.encode(text, opts)),
      applyChatTemplate: () => '',
      chatTemplate: null,
      bosTokenId: 1,
      eosTokenId: 2,
    };
    const { ids, labels } = formatExample(oneTurn('Hi', 'X'), merging);
    const prompt = formatPrompt('Hi', merging);
    expect(prompt).toEqual(tok.encode(plainPrompt('Hi')));
    expect(ids).toEqual([...prompt, ...noSpecials('X'), 2]);
    expect(firstLearned(labels)).toBe(prompt.length);
  });

  it('writes the system message first and repeats the Input/Output blocks for more turns', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
      { role: 'assistant', content: 'Goodbye.' },
    ];
    const { ids, labels } = formatExample({ messages }, tok);
    const p1 = tok.encode('Be kind.\n\n### Input:\nHi\n\n### Output:\n');
    const a1 = [...tok.encode('Be kind.\n\n### Input:\nHi\n\n### Output:\nHello.').slice(p1.length), 2];
    const p2 = noSpecials('\n\n### Input:\nBye\n\n### Output:\n');
    const a2 = [...noSpecials('\n\n### Input:\nBye\n\n### Output:\nGoodbye.').slice(p2.length), 2];
    expect(ids).toEqual([...p1, ...a1, ...p2, ...a2]);
    const masked = (xs: number[]) => xs.map(() => IGNORE_INDEX);
    expect(labels).toEqual([...masked(p1), ...a1, ...masked(p2), ...a2]);
  });

  it('learns every token but the first with trainOnInputs', () => {
    const { ids, labels, trainableTokens } = formatExample(oneTurn('Hi', 'Hello.'), tok, { trainOnInputs: true });
    expect(ids[0]).toBe(1);
    expect(labels).toEqual([IGNORE_INDEX, ...ids.slice(1)]);
    expect(trainableTokens).toBe(ids.length - 1);
  });

  it('keeps the first maxLength tokens and reports truncation', () => {
    const messages = oneTurn('Hi', 'Once upon a time there was a cat.');
    const full = formatExample(messages, tok);
    const P = firstLearned(full.labels);
    const cut = formatExample(messages, tok, { maxLength: P + 3 });
    expect(cut.ids).toEqual(full.ids.slice(0, P + 3));
    expect(cut.labels).toEqual(full.labels.slice(0, P + 3));
    expect(cut).toMatchObject({ truncated: true, fullLength: full.ids.length, trainableTokens: 3 });
    // Cut inside the prompt: nothing left to learn, and the result says so.
    expect(formatExample(messages, tok, { maxLength: P - 1 })).toMatchObject({ truncated: true, trainableTokens: 0 });
    // Exactly long enough: not truncated.
    expect(formatExample(messages, tok, { maxLength: full.ids.length }).truncated).toBe(false);
    expect(() => formatExample(messages, tok, { maxLength: 0 })).toThrow(/maxLength must be a positive integer/);
  });

  it('formatPrompt is exactly the prompt part of formatExample, with and without a system message', () => {
    for (const system of [undefined, 'You answer customers of an online shop.']) {
      const { ids, labels } = formatExample(oneTurn(KO_IN, KO_OUT, system), tok);
      const prompt = formatPrompt(KO_IN, tok, system);
      expect(firstLearned(labels)).toBe(prompt.length);
      expect(ids.slice(0, prompt.length)).toEqual(prompt);
      expect(tok.decode(prompt)).toBe(plainPrompt(KO_IN, system));
    }
  });

  it('adds no BOS for GPT-2 and ends the answer with its EOS', () => {
    const { ids, labels } = formatExample(oneTurn('Hi', 'Hello.'), gpt2);
    const prompt = gpt2.encode(plainPrompt('Hi'));
    expect(ids.slice(0, prompt.length)).toEqual(prompt);
    expect(ids[0]).toBe(gpt2.encode('#', { addSpecialTokens: false })[0]);
    expect(ids[ids.length - 1]).toBe(gpt2.eosTokenId);
    expect(labels[labels.length - 1]).toBe(gpt2.eosTokenId);
    expect(firstLearned(labels)).toBe(prompt.length);
    expect(formatPrompt('Hi', gpt2)).toEqual(prompt);
  });

  it('keeps a tokenizer that appends EOS (add_eos_token) from ending the prompt with it', async () => {
    const folder = tempFolder([join(modelDir('stories260K'), 'tokenizer.json')], {
      'tokenizer_config.json': { ...readModelJson('stories260K', 'tokenizer_config.json'), add_eos_token: true },
    });
    folders.push(folder);
    const withEos = await TextTokenizer.load(folderSource(folder.dir));
    expect(withEos.encode('Hi').at(-1)).toBe(2);
    const prompt = formatPrompt('Hi', withEos);
    expect(prompt).toEqual(tok.encode(plainPrompt('Hi')));
    expect(formatExample(oneTurn('Hi', 'Hello.'), withEos).ids).toEqual(formatExample(oneTurn('Hi', 'Hello.'), tok).ids);
  });

  it('refuses a tokenizer without EOS and a malformed conversation', () => {
    const noEos: FormatTokenizer = {
      encode: (text, opts) => tok.encode(text, opts),
      applyChatTemplate: () => '',
      chatTemplate: null,
      bosTokenId: 1,
      eosTokenId: null,
    };
    expect(() => formatExample(oneTurn('Hi', 'Hello.'), noEos)).toThrow(/no EOS token/);
    expect(() => formatExample([{ role: 'user', content: 'Hi' }], tok)).toThrow(/no assistant message/);
  });
});
