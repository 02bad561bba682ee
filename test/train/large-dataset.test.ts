// A large dataset end to end on the CPU: a generated file of 200,000 examples (about 50 MB) is
// parsed, validated, split, tokenized and batched, and the time and the growth of the process's
// memory are measured. The full size runs with a stand-in tokenizer (stories260K's real one costs
// about 0.2 ms per example here, 40 s for 200,000: test/e2e/cli-large-dataset.test.ts times that
// through the CLI); the real tokenizer runs here on a slice. The stand-in still reaches every
// dataset-sized loop and array of the preparation (the crash that motivated this file was a
// spread of every row's length into Math.max: "Maximum call stack size exceeded").
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CountPrinter, describeCount } from '../../src/cli/progress.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { makeBatch, MAX_VALIDATION_EXAMPLES, paddedLength, splitValidation } from '../../src/train/batches.js';
import { parseDataset } from '../../src/train/dataset.js';
import type { FormatTokenizer } from '../../src/train/format.js';
import { formatConversation } from '../../src/train/format.js';
import { exampleRows, prepareExamples, textBound, type PrepareProgress } from '../../src/train/prepare.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { bigJsonl } from './big-dataset.js';

/** A stand-in tokenizer (one id per 4 characters, BOS 1, EOS 2): cheap, so the full size fits a test. */
const standInTokenizer: FormatTokenizer = {
  chatTemplate: null,
  bosTokenId: 1,
  eosTokenId: 2,
  applyChatTemplate: () => {
    throw new Error('no chat template');
  },
  encode: (text, opts = {}) => {
    // One id per 4 characters: the prompt's ids are a prefix of the prompt + reply's, as formatting expects.
    const special = (opts.addSpecialTokens ?? true) ? 1 : 0;
    const ids = new Array<number>(special + Math.ceil(text.length / 4));
    if (special) ids[0] = 1;
    for (let k = 0; k < text.length; k += 4) ids[special + k / 4] = 3 + (text.charCodeAt(k) % 500);
    return ids;
  },
};

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

describe('a 200,000-example dataset', () => {
  it('is parsed, validated, tokenized and batched, with progress and a capped validation split', () => {
    const rss0 = process.memoryUsage().rss;
    let t = performance.now();
    const text = bigJsonl(200_000);
    expect(text.length).toBeGreaterThan(50e6);
    const tGenerate = performance.now() - t;

    t = performance.now();
    const checked: Array<{ done: number; total: number }> = [];
    const examples = parseDataset(text, 'auto', 'big.jsonl', (p) => checked.push(p));
    const tParse = performance.now() - t;
    // About 100 reports of the lines checked, the last at the last line.
    expect(checked.length).toBeGreaterThan(90);
    expect(checked.length).toBeLessThan(110);
    expect(checked[checked.length - 1]).toEqual({ done: 200_000, total: 200_000 });
    expect(examples).toHaveLength(200_000);
    expect(examples[199_999].line).toBe(200_000);

    const progress: PrepareProgress[] = [];
    t = performance.now();
    const data = prepareExamples(examples, standInTokenizer, { maxLength: 64, trainOnInputs: false, valSplit: 0.1, seed: 0 }, (p) => progress.push(p));
    const tPrepare = performance.now() - t;
    // 10 % would be 20,000 examples; the split is capped, and the rest are trained on.
    expect(data.validation).toHaveLength(MAX_VALIDATION_EXAMPLES);
    expect(data.train).toHaveLength(200_000 - MAX_VALIDATION_EXAMPLES);
    expect(data.longest).toBeGreaterThan(20);
    expect(data.longest).toBeLessThanOrEqual(64);
    // Progress: a few hundred reports at most, increasing, ending at done = total.
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.length).toBeLessThan(500);
    expect(progress.every((p, k) => p.total === 200_000 && (k === 0 || p.done > progress[k - 1].done))).toBe(true);
    expect(progress[progress.length - 1].done).toBe(200_000);

    t = performance.now();
    let batches = 0;
    for (let i = 0; i < data.train.length; i += 4) {
      const rows = data.train.slice(i, i + 4);
      const longest = rows.reduce((m, r) => Math.max(m, r.ids.length), 0);
      const batch = makeBatch(rows, 0, paddedLength(longest, data.longest));
      if (batch.B !== rows.length) throw new Error(`batch ${batches} has ${batch.B} rows`);
      batches++;
    }
    const tBatch = performance.now() - t;
    expect(batches).toBe(Math.ceil(data.train.length / 4));
    const grown = process.memoryUsage().rss - rss0;
    console.log(
      `200,000 examples, ${mb(text.length)} MB: generated in ${tGenerate.toFixed(0)} ms, parsed and validated in ${tParse.toFixed(0)} ms, ` +
        `split and tokenized (stand-in tokenizer) in ${tPrepare.toFixed(0)} ms, batched in ${tBatch.toFixed(0)} ms; rss grew ${mb(grown)} MB`,
    );
    // The text is ~50 MB as UTF-16; the examples and rows a few times that. A leak of a copy per
    // example (or of every batch) would be gigabytes.
    expect(grown).toBeLessThan(2.5 * 2 ** 30);
  });

  it('has a validation split of at most the cap, the rest trained on', () => {
    const items = Array.from({ length: 50 }, (_, k) => k);
    const { train, validation } = splitValidation(items, 0.5, 1, 3);
    expect([train.length, validation.length]).toEqual([47, 3]);
    expect(splitValidation(items, 0.5, 1).validation).toHaveLength(25); // under MAX_VALIDATION_EXAMPLES: the fraction decides
    expect(() => splitValidation(items, 0.5, 1, 0)).toThrow(/validation cap must be a positive integer, not 0/);
  });

  it.skipIf(SHARED_DIR === null)(SHARED_DIR ? "is tokenized with stories260K's tokenizer (a slice that fits a test)" : `is tokenized with stories260K's tokenizer: skipped, ${NO_SHARED_REASON}`, async () => {
    const tokenizer = await TextTokenizer.load(folderSource(join(SHARED_DIR!, 'models', 'stories260K')));
    // LARGE_DATASET_EXAMPLES=200000 measures the full size (some minutes here).
    const n = Number(process.env.LARGE_DATASET_EXAMPLES ?? 1_000);
    const examples = parseDataset(bigJsonl(n), 'jsonl', 'slice.jsonl');
    const rss0 = process.memoryUsage().rss;
    const t = performance.now();
    const data = prepareExamples(examples, tokenizer, { maxLength: 256, trainOnInputs: false, valSplit: 0.1, seed: 0 });
    const ms = performance.now() - t;
    expect(data.train.length + data.validation.length).toBe(n);
    expect(data.validation).toHaveLength(Math.min(MAX_VALIDATION_EXAMPLES, Math.ceil(n / 10)));
    const batch = makeBatch(data.train.slice(0, 4), tokenizer.eosTokenId!, paddedLength(data.longest, data.longest));
    expect(batch.ids).toHaveLength(4 * batch.T);
    // Each row is BOS, the prompt (no loss), then the reply and EOS (learned).
    const row = data.train[0];
    expect(row.ids[0]).toBe(tokenizer.bosTokenId);
    expect(row.ids[row.ids.length - 1]).toBe(tokenizer.eosTokenId);
    expect(row.labels[row.labels.length - 1]).toBe(tokenizer.eosTokenId);
    console.log(
      `${n} examples with stories260K's tokenizer: ${ms.toFixed(0)} ms (${(ms / n).toFixed(2)} ms per example, ` +
        `so about ${((ms / n) * 200) | 0} s for 200,000); rss grew ${mb(process.memoryUsage().rss - rss0)} MB`,
    );
  });
});

describe('the progress lines of a long count (the CLI prints them while checking and tokenizing)', () => {
  /** A printer on a fake stream and a clock the test moves. */
  function printer(tty: boolean) {
    const chunks: string[] = [];
    let now = 0;
    const p = new CountPrinter({ isTTY: tty, write: (s: string) => chunks.push(s) > 0 }, 'tokenizing', 'examples', 1000, () => now);
    return { chunks, p, at: (ms: number) => (now = ms) };
  }

  it('says how far it is, quietly for a second, then at each 10 % in a file or pipe, and the end', () => {
    expect(describeCount('tokenizing', 74_000, 172_741, 'examples')).toBe('tokenizing: 42% (74,000 of 172,741 examples)');
    const { chunks, p, at } = printer(false);
    for (let done = 1_000; done <= 20_000; done += 1_000) {
      at(done / 10); // 100 examples per ms: the first second covers half of them
      p.update(done, 20_000);
    }
    expect(chunks).toEqual([
      'tokenizing: 50% (10,000 of 20,000 examples)\n', 'tokenizing: 60% (12,000 of 20,000 examples)\n', 'tokenizing: 70% (14,000 of 20,000 examples)\n',
      'tokenizing: 80% (16,000 of 20,000 examples)\n', 'tokenizing: 90% (18,000 of 20,000 examples)\n', 'tokenizing: 100% (20,000 of 20,000 examples)\n',
    ]);
  });

  it('prints nothing for a count that ends within the quiet second, and redraws one line on a TTY', () => {
    const quick = printer(false);
    for (let done = 1; done <= 100; done++) quick.p.update(done, 100);
    expect(quick.chunks).toEqual([]);
    const { chunks, p, at } = printer(true);
    at(1500);
    p.update(10, 100);
    at(1550);
    p.update(20, 100); // within 100 ms of the last draw: skipped
    at(1700);
    p.update(30, 100);
    p.update(100, 100);
    expect(chunks).toEqual([
      '\rtokenizing: 10% (10 of 100 examples)\x1b[K', '\rtokenizing: 30% (30 of 100 examples)\x1b[K', '\rtokenizing: 100% (100 of 100 examples)\x1b[K\n',
    ]);
  });
});

describe.skipIf(SHARED_DIR === null)(SHARED_DIR ? 'a very long line' : `a very long line: skipped, ${NO_SHARED_REASON}`, () => {
  const story = 'Once upon a time there was a little girl who liked the sun. She played in the park with her dog every day. ';
  const long = story.repeat(Math.ceil(100_000 / story.length)); // 100 KB: about 0.05 s per encode here, 2 encodes uncut
  const opts = { maxLength: 64, trainOnInputs: false };
  const load = () => TextTokenizer.load(folderSource(join(SHARED_DIR!, 'models', 'stories260K')));

  it('costs what is kept: the same rows as the whole text, marked truncated, at a fraction of the time', async () => {
    const tokenizer = await load();
    const example = { line: 7, messages: [{ role: 'user' as const, content: 'Tell me a story.' }, { role: 'assistant' as const, content: long }] };
    let t = performance.now();
    const whole = formatConversation(example, tokenizer, opts).sequences;
    const wholeMs = performance.now() - t;
    t = performance.now();
    const r = exampleRows(example, tokenizer, opts);
    const cutMs = performance.now() - t;
    expect(r.textCut).toBe(true);
    expect(r.truncated).toBe(true);
    expect(r.skipped).toBe(false);
    expect(r.rows).toEqual([{ ids: whole[0].ids, labels: whole[0].labels, line: 7 }]);
    expect(r.how).toMatch(new RegExp(`text beyond ${textBound(64)} characters`));
    console.log(`a ${long.length}-character reply at maxLength 64: ${wholeMs.toFixed(0)} ms tokenized whole, ${cutMs.toFixed(0)} ms cut`);
    expect(cutMs).toBeLessThan(wholeMs / 4);
  });

  it('skips an example whose prompt alone is over maxLength, as the whole text does', async () => {
    const tokenizer = await load();
    const example = { line: 3, messages: [{ role: 'user' as const, content: long }, { role: 'assistant' as const, content: 'The end.' }] };
    const r = exampleRows(example, tokenizer, opts);
    expect(r.textCut).toBe(true);
    expect([r.skipped, r.truncated, r.rows]).toEqual([true, false, []]);
    expect(formatConversation(example, tokenizer, opts).sequences.every((s) => s.trainableTokens === 0)).toBe(true);
  });
});

describe('a long text whose tokens are too long for the cut', () => {
  it('is tokenized whole when cutting at bound and at 2·bound disagree', () => {
    // One token per 100 characters: textBound(8) = 128 characters is about one token, so the cut
    // would keep fewer tokens than maxLength; both cuts differ, and the whole text is used.
    const coarse: FormatTokenizer = { ...standInTokenizer, encode: (text, o = {}) => [...((o.addSpecialTokens ?? true) ? [1] : []), ...Array.from({ length: Math.ceil(text.length / 100) }, (_, k) => 3 + k)] };
    const example = { line: 1, messages: [{ role: 'user' as const, content: 'q' }, { role: 'assistant' as const, content: 'x'.repeat(500) }] };
    const r = exampleRows(example, coarse, { maxLength: 8, trainOnInputs: false });
    expect(r.textCut).toBe(false);
    const whole = formatConversation(example, coarse, { maxLength: 8 }).sequences[0];
    expect(r.rows[0].ids).toEqual(whole.ids);
    expect(whole.truncated).toBe(false);
  });
});
