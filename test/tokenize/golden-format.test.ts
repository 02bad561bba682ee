// ../shared/golden-format: the token ids and labels transformers' apply_chat_template gives (and
// TRL agrees with) for the examples of examples.jsonl with the real tokenizers and chat templates
// of Qwen3, Qwen2.5, Gemma 3 and Llama 3, by the rule of its README: every reply learned in the
// context generation gives it, one sequence per conversation or one per reply. The rows training
// uses (prepareExamples) must be exactly those, line by line and sequence by sequence; and plain
// encode() must give its ids with and without special tokens.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDataset } from '../../src/train/dataset.js';
import { prepareExamples } from '../../src/train/prepare.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer, suiteTitle } from './fixtures.js';
import { EXAMPLES_FILE, GOLDEN_FORMAT_FAMILIES, readReference } from './golden-format-reference.js';

describe.skipIf(!SHARED_DIR)(suiteTitle('training sequences match ../shared/golden-format'), () => {
  it.each(GOLDEN_FORMAT_FAMILIES)('%s: every line, every sequence, ids and labels', async (family) => {
    const ref = readReference()[family];
    const tok = await loadTokenizer(family);
    expect(tok.eosTokenId).toBe(ref.eos_token_id);
    expect(tok.bosTokenId).toBe(ref.bos_token_id);
    const examples = parseDataset(readFileSync(EXAMPLES_FILE, 'utf8'), 'jsonl', 'examples.jsonl');
    expect(examples.map((e) => e.line)).toEqual(ref.examples.map((e) => e.line));
    const data = prepareExamples(examples, tok, { maxLength: 512, trainOnInputs: false, valSplit: 0, seed: 0 });
    expect(data.truncatedLines).toEqual([]);
    expect(data.skippedLines).toEqual([]);
    for (const want of ref.examples) {
      const got = data.train.filter((r) => r.line === want.line).map((r) => ({ input_ids: r.ids, labels: r.labels }));
      expect(got, `${family} line ${want.line} (${want.how})`).toEqual(want.sequences);
    }
    expect(data.train).toHaveLength(ref.examples.reduce((n, e) => n + e.sequences.length, 0));
  });

  it('cuts each of a conversation\'s sequences at maxLength, and counts a line whose later sequences fall away as truncated', async () => {
    const ref = readReference()['qwen3-vocab'];
    const tok = await loadTokenizer('qwen3-vocab');
    const examples = parseDataset(readFileSync(EXAMPLES_FILE, 'utf8'), 'jsonl', 'examples.jsonl');
    const data = prepareExamples(examples, tok, { maxLength: 30, trainOnInputs: false, valSplit: 0, seed: 0 });
    // Lines 8 and 9 keep their first reply's sequence (22 and 29 tokens); their later replies'
    // contexts are longer than 30 tokens, so nothing of those replies is left to learn.
    for (const line of [8, 9]) {
      const want = ref.examples.find((e) => e.line === line)!.sequences[0];
      expect(data.train.filter((r) => r.line === line).map((r) => ({ input_ids: r.ids, labels: r.labels }))).toEqual([want]);
    }
    expect(data.truncatedLines).toEqual(expect.arrayContaining([8, 9]));
    expect(data.skippedLines).not.toContain(8);
    expect(data.train.every((r) => r.ids.length <= 30)).toBe(true);
  });

  it.each(GOLDEN_FORMAT_FAMILIES)('%s: encode with and without special tokens', async (family) => {
    const ref = readReference()[family];
    const tok = await loadTokenizer(family);
    for (const e of ref.encode) {
      expect(tok.encode(e.text), JSON.stringify(e.text)).toEqual(e.with_special_tokens);
      expect(tok.encode(e.text, { addSpecialTokens: false }), JSON.stringify(e.text)).toEqual(e.without);
    }
  });
});
