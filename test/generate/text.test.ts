// The reasoning block a chat template makes the model write (Qwen3: '<think>\n\n</think>\n\n')
// is kept out of the generated answer: the format is read off the template, the splitter gives the
// same answer however the text arrives in pieces, and generateTextFromIds (with the token
// generator replaced by a script of token ids, so that no GPU and no trained model is needed)
// leaves an empty block out and returns a non-empty one as `reasoning`.
import { describe, expect, it, vi } from 'vitest';
import type { LanguageModel } from '../../src/model/model.js';
import type { ReasoningFormat, TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { formatPrompt } from '../../src/train/format.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer, suiteTitle } from '../tokenize/fixtures.js';

/** The ids the mocked generateTokens "generates", one onToken call each. */
let script: number[] = [];
vi.mock('../../src/generate/generate.js', () => ({
  generateTokens: async (_model: unknown, _prompt: number[], opts: { onToken?: (id: number) => void }) => {
    for (const id of script) opts.onToken?.(id);
    return { ids: script.slice(), stopReason: 'eos' };
  },
}));
const { generateTextFromIds, ReasoningSplitter } = await import('../../src/generate/text.js');

const QWEN3: ReasoningFormat = { open: '<think>', close: '</think>', separator: '\n\n', generationPrompt: '<|im_start|>assistant\n' };

/** The splitter's answer and reasoning for `text` fed in the pieces that cutting it at `cuts` gives. */
function split(text: string, cuts: number[]): { answer: string; reasoning: string | undefined } {
  let answer = '';
  const s = new ReasoningSplitter(QWEN3, (t) => (answer += t));
  let at = 0;
  for (const c of [...cuts, text.length]) {
    s.push(text.slice(at, c));
    at = c;
  }
  const reasoning = s.finish(); // (which may still add to the answer)
  return { answer, reasoning };
}

/** Every way of cutting `text` into two or three pieces (and not at all). */
function* cuttings(text: string): Generator<number[]> {
  yield [];
  for (let a = 0; a <= text.length; a++) {
    yield [a];
    for (let b = a; b <= text.length; b += 3) yield [a, b];
  }
}

describe('ReasoningSplitter', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['<think>\n\n</think>\n\nThe answer.', 'The answer.', undefined],
    ['<think>\n\n</think>\n\n chat', ' chat', undefined], // a reply's own leading space stays
    ['<think>\nBecause it is.\n</think>\n\nYes.', 'Yes.', 'Because it is.'],
    ['<think>\n\n</think>\nOnly one newline', 'Only one newline', undefined],
    ['No block at all.', 'No block at all.', undefined],
    ['<thing> is not the tag', '<thing> is not the tag', undefined],
    ['  <', '  <', undefined], // could have opened the block, but the text ended
    ['<think>\nnever closed', '', 'never closed'],
    ['', '', undefined],
  ];
  it.each(cases)('%j → answer %j, reasoning %j, in any pieces', (text, answer, reasoning) => {
    for (const cuts of cuttings(text)) expect(split(text, cuts), `cut at ${cuts}`).toEqual({ answer, reasoning });
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('the reasoning block of a chat template'), () => {
  it("is read off Qwen3's template, and the other families' templates have none", async () => {
    expect((await loadTokenizer('qwen3-vocab')).reasoningFormat).toEqual(QWEN3);
    for (const family of ['qwen2.5-vocab', 'gemma3-vocab', 'llama3-vocab', 'stories260K']) {
      expect((await loadTokenizer(family)).reasoningFormat, family).toBeNull();
    }
  });

  describe('generateTextFromIds', () => {
    const model = {} as LanguageModel;
    /** Generate `continuation` (as ids, ending with <|im_end|>) after `promptIds`. */
    async function generate(tok: TextTokenizer, promptIds: number[], continuation: string, opts: { splitReasoning?: boolean } = {}) {
      script = [...tok.encode(continuation, { addSpecialTokens: false }), tok.eosTokenId!];
      const pieces: string[] = [];
      const r = await generateTextFromIds(model, tok, promptIds, { ...opts, onText: (t) => pieces.push(t) });
      expect(pieces.join('')).toBe(r.text);
      return r;
    }

    it('leaves an empty block out of an answer to a chat input, and returns a non-empty one on its own', async () => {
      const tok = await loadTokenizer('qwen3-vocab');
      const prompt = formatPrompt('Translate to French: cat', tok);
      const empty = await generate(tok, prompt, '<think>\n\n</think>\n\n chat');
      expect(empty.text).toBe(' chat');
      expect(empty).not.toHaveProperty('reasoning');
      expect(empty.ids).toEqual(script); // the ids are all the generated ones
      const full = await generate(tok, prompt, '<think>\nA cat is un chat.\n</think>\n\nchat');
      expect(full.text).toBe('chat');
      expect(full.reasoning).toBe('A cat is un chat.');
    });

    it('keeps the text as it is for a raw prompt, or when asked to', async () => {
      const tok = await loadTokenizer('qwen3-vocab');
      const raw = await generate(tok, tok.encode('Once upon a time'), '<think>\n\n</think>\n\nthere');
      expect(raw.text).toBe('<think>\n\n</think>\n\nthere');
      const off = await generate(tok, formatPrompt('Hi', tok), '<think>\n\n</think>\n\nHello', { splitReasoning: false });
      expect(off.text).toBe('<think>\n\n</think>\n\nHello');
      const on = await generate(tok, tok.encode('Once upon a time'), '<think>\n\n</think>\n\nthere', { splitReasoning: true });
      expect(on.text).toBe('there');
    });

    it('changes nothing for a template without a reasoning block', async () => {
      const tok = await loadTokenizer('qwen2.5-vocab');
      const r = await generate(tok, formatPrompt('Hi', tok), '<think>\n\n</think>\n\nHello');
      expect(r.text).toBe('<think>\n\n</think>\n\nHello');
    });
  });
});
