// Examples → the token rows a training run uses: the seeded validation split, every example
// formatted into its training sequences (ids + labels, cut at maxLength; usually one per example,
// one per reply where the chat template needs it), the truncated ones counted, and the sequences
// with nothing left to learn (every reply token cut off) skipped and counted. A fingerprint of the
// rows lets a resumed run check that it was given the same data. `webgpu-lora tokenize` shows the
// rows of exampleRows, the function training takes its rows from.
import type { Example } from './dataset.js';
import { splitValidation } from './batches.js';
import { formatConversation, type FormattedExample, type FormatTokenizer } from './format.js';

/** One training sequence: ids, labels (−100 = no loss), and the line of the file it came from. */
export interface TokenRow {
  ids: number[];
  labels: number[];
  line: number;
}

export interface PreparedData {
  train: TokenRow[];
  validation: TokenRow[];
  /**
   * Lines of the examples cut at maxLength that still have reply tokens (they are trained on):
   * a sequence was cut, or one of several was left with nothing to learn and skipped.
   */
  truncatedLines: number[];
  /** Lines of the examples left with no reply token after the cut (none of their sequences is used). */
  skippedLines: number[];
  /** The longest row, in tokens (≤ maxLength). */
  longest: number;
  /** A hash of every row's ids and labels, in order (hex). */
  fingerprint: string;
}

export interface RowOptions {
  maxLength: number;
  trainOnInputs: boolean;
}

export interface PrepareOptions extends RowOptions {
  /** The fraction held out for validation; at most MAX_VALIDATION_EXAMPLES examples (batches.ts splitValidation). */
  valSplit: number;
  seed: number;
}

/** How far tokenizing has come: `done` of `total` examples formatted (training and validation together). */
export interface PrepareProgress {
  done: number;
  total: number;
}

/**
 * Progress is reported about every PROGRESS_FRACTION of the examples (and at the end), so that a
 * caller that prints each report prints at most about 100 lines however large the file is.
 */
const PROGRESS_FRACTION = 0.01;

/** One example's training sequences: all of them, and the rows training uses. */
export interface ExampleRows {
  line: number;
  /**
   * Every sequence, cut at maxLength, with how it became them ('one sequence', or 'one sequence per
   * reply (...)'). Where a message's text was cut before tokenizing (textCut), a sequence's
   * fullLength counts the tokens of the cut text only: the real one is larger.
   */
  sequences: FormattedExample[];
  how: string;
  /** The sequences that still have something to learn, as rows (in order). */
  rows: TokenRow[];
  /** No row is left: the example is not used. */
  skipped: boolean;
  /** Rows are left, but something was cut off: a sequence's end, or a whole sequence. */
  truncated: boolean;
  /** A message longer than textBound(maxLength) characters was cut before tokenizing (see exampleRows). */
  textCut: boolean;
}

/**
 * A message longer than CHARS_PER_KEPT_TOKEN · maxLength characters is cut to that length before
 * tokenizing, when cutting it there and at twice that length keeps the same tokens (see
 * exampleRows). A token covers
 * about 4 characters of English text and 1 to 2 of most other scripts, so 16 per token leaves a wide
 * margin, and the tokenizer's cost (superlinear in the length of one text: about 20 s for a 1 MB line
 * with stories260K's) follows what is kept, not what is in the file.
 */
export const CHARS_PER_KEPT_TOKEN = 16;

/** The cut length of one message's text for sequences of maxLength tokens. */
export const textBound = (maxLength: number): number => CHARS_PER_KEPT_TOKEN * maxLength;

/**
 * The training rows of one example: its sequences, without those that have nothing left to learn.
 *
 * An example with a message longer than bound = textBound(maxLength) characters is formatted twice
 * first, with every such message cut to bound and to 2·bound characters. When the two give the same
 * sequences (ids and labels, after the cut at maxLength), nothing that is kept depends on where the
 * text is cut, and those sequences are used, marked truncated (the text beyond was never tokenized).
 * A general tokenizer gives no proof that cutting far beyond the kept tokens leaves them unchanged (a
 * BPE merge near the cut can in principle change the merges before it); this check is the evidence
 * that it did not for this text. When the two differ (e.g. tokens of more than 16 characters each),
 * the whole text is formatted, as without the cut.
 */
export function exampleRows(example: Example, tokenizer: FormatTokenizer, opts: RowOptions): ExampleRows {
  const bound = textBound(opts.maxLength);
  if (example.messages.some((m) => m.content.length > bound)) {
    const near = formatRows(cutMessages(example, bound), tokenizer, opts);
    const far = formatRows(cutMessages(example, 2 * bound), tokenizer, opts);
    if (sameSequences(near.sequences, far.sequences)) {
      return { ...near, how: `${near.how}; text beyond ${bound} characters of a message not tokenized`, skipped: near.rows.length === 0, truncated: near.rows.length > 0, textCut: true };
    }
  }
  return formatRows(example, tokenizer, opts);
}

/** The example with each message's text cut to at most `chars` characters (never inside a surrogate pair). */
function cutMessages(example: Example, chars: number): Example {
  const cut = (s: string) => {
    if (s.length <= chars) return s;
    const end = s.charCodeAt(chars - 1) >= 0xd800 && s.charCodeAt(chars - 1) <= 0xdbff ? chars - 1 : chars;
    return s.slice(0, end);
  };
  return { line: example.line, messages: example.messages.map((m) => ({ role: m.role, content: cut(m.content) })) };
}

function sameSequences(a: FormattedExample[], b: FormattedExample[]): boolean {
  const same = (x: number[], y: number[]) => x.length === y.length && x.every((v, k) => v === y[k]);
  return a.length === b.length && a.every((s, k) => same(s.ids, b[k].ids) && same(s.labels, b[k].labels));
}

function formatRows(example: Example, tokenizer: FormatTokenizer, opts: RowOptions): ExampleRows {
  const { sequences, how } = formatConversation(example, tokenizer, { maxLength: opts.maxLength, trainOnInputs: opts.trainOnInputs });
  const used = sequences.filter((f) => f.trainableTokens > 0);
  const rows = used.map((f) => ({ ids: f.ids, labels: f.labels, line: example.line }));
  const skipped = rows.length === 0;
  const truncated = !skipped && (used.length < sequences.length || used.some((f) => f.truncated));
  return { line: example.line, sequences, how, rows, skipped, truncated, textCut: false };
}

/** The rows of one part of the examples (training or validation), in the examples' order. */
export interface FormattedPart {
  rows: TokenRow[];
  truncatedLines: number[];
  skippedLines: number[];
  /** The longest row, in tokens (0 without rows). */
  longest: number;
}

/** Formats every example of `examples` in order (exampleRows), calling `onEach` after each. */
export function formatPart(examples: Example[], tokenizer: FormatTokenizer, opts: RowOptions, onEach?: () => void): FormattedPart {
  const part: FormattedPart = { rows: [], truncatedLines: [], skippedLines: [], longest: 0 };
  for (const ex of examples) {
    const r = exampleRows(ex, tokenizer, opts);
    if (r.skipped) part.skippedLines.push(ex.line);
    if (r.truncated) part.truncatedLines.push(ex.line);
    for (const row of r.rows) {
      part.rows.push(row);
      if (row.ids.length > part.longest) part.longest = row.ids.length;
    }
    onEach?.();
  }
  return part;
}

/**
 * What formatPart computes, done elsewhere (e.g. split over worker threads: ../cli/format-workers.ts),
 * with the same result; `onDone(n)` reports n more examples formatted.
 */
export type PartFormatter = (examples: Example[], tokenizer: FormatTokenizer, opts: RowOptions, onDone: (n: number) => void) => Promise<FormattedPart>;

/**
 * Splits first (so the split depends only on the examples and the seed), then formats each part,
 * calling `onProgress` about every 1 % of the examples and once at the end. Throws when no training
 * example is left. Nothing here spreads a dataset-sized array into a call's arguments (Math.max(...rows),
 * rows.push(...all)): engines cap a call's arguments at some 100,000, and a file of 172,741
 * lines crashed there with "Maximum call stack size exceeded".
 */
export function prepareExamples(
  examples: Example[],
  tokenizer: FormatTokenizer,
  opts: PrepareOptions,
  onProgress?: (p: PrepareProgress) => void,
): PreparedData {
  const { train, validation, progress } = startPreparing(examples, opts, onProgress);
  const each = () => progress(1);
  return finishPreparing(formatPart(train, tokenizer, opts, each), formatPart(validation, tokenizer, opts, each), train.length, opts.maxLength);
}

/** prepareExamples with the formatting done by `format` (the same rows, the same progress reports). */
export async function prepareExamplesWith(
  examples: Example[],
  tokenizer: FormatTokenizer,
  opts: PrepareOptions,
  format: PartFormatter,
  onProgress?: (p: PrepareProgress) => void,
): Promise<PreparedData> {
  const { train, validation, progress } = startPreparing(examples, opts, onProgress);
  const trainPart = await format(train, tokenizer, opts, progress);
  const validationPart = await format(validation, tokenizer, opts, progress);
  return finishPreparing(trainPart, validationPart, train.length, opts.maxLength);
}

/** The seeded split, and a progress counter that reports about every 1 % and at the end. */
function startPreparing(examples: Example[], opts: PrepareOptions, onProgress?: (p: PrepareProgress) => void) {
  if (examples.length === 0) throw new Error('there are no examples to train on');
  const { train, validation } = splitValidation(examples, opts.valSplit, opts.seed);
  const total = examples.length;
  const every = Math.max(1, Math.ceil(total * PROGRESS_FRACTION));
  let done = 0;
  const progress = (n: number) => {
    const before = done;
    done += n;
    if (onProgress && (Math.floor(done / every) > Math.floor(before / every) || (done === total && before < total))) onProgress({ done, total });
  };
  return { train, validation, progress };
}

function finishPreparing(train: FormattedPart, validation: FormattedPart, trainExamples: number, maxLength: number): PreparedData {
  const truncatedLines = train.truncatedLines.concat(validation.truncatedLines).sort((a, b) => a - b);
  const skippedLines = train.skippedLines.concat(validation.skippedLines).sort((a, b) => a - b);
  if (train.rows.length === 0) {
    throw new Error(
      `none of the ${trainExamples} training examples has a reply token left within maxLength ${maxLength}; ` +
        'raise maxLength or shorten the prompts',
    );
  }
  return {
    train: train.rows,
    validation: validation.rows,
    truncatedLines,
    skippedLines,
    longest: Math.max(train.longest, validation.longest),
    fingerprint: fingerprint(train.rows, validation.rows),
  };
}

/**
 * FNV-1a (32-bit) over the number of rows and each row's length, ids and labels, for the training
 * rows and then the validation rows: two runs see the same rows in the same parts iff (barring a
 * hash collision) the fingerprints match.
 */
function fingerprint(train: TokenRow[], validation: TokenRow[]): string {
  let h = 0x811c9dc5;
  const add = (x: number) => {
    h = Math.imul(h ^ (x & 0xffff), 0x01000193);
    h = Math.imul(h ^ ((x >>> 16) & 0xffff), 0x01000193);
  };
  for (const part of [train, validation]) {
    add(part.length);
    for (const r of part) {
      add(r.ids.length);
      for (const id of r.ids) add(id);
      for (const l of r.labels) add(l);
    }
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
