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
  valSplit: number;
  seed: number;
}

/** One example's training sequences: all of them, and the rows training uses. */
export interface ExampleRows {
  line: number;
  /** Every sequence, cut at maxLength, with how it became them ('one sequence', or 'one sequence per reply (...)'). */
  sequences: FormattedExample[];
  how: string;
  /** The sequences that still have something to learn, as rows (in order). */
  rows: TokenRow[];
  /** No row is left: the example is not used. */
  skipped: boolean;
  /** Rows are left, but something was cut off: a sequence's end, or a whole sequence. */
  truncated: boolean;
}

/** The training rows of one example: its sequences, without those that have nothing left to learn. */
export function exampleRows(example: Example, tokenizer: FormatTokenizer, opts: RowOptions): ExampleRows {
  const { sequences, how } = formatConversation(example, tokenizer, { maxLength: opts.maxLength, trainOnInputs: opts.trainOnInputs });
  const used = sequences.filter((f) => f.trainableTokens > 0);
  const rows = used.map((f) => ({ ids: f.ids, labels: f.labels, line: example.line }));
  const skipped = rows.length === 0;
  const truncated = !skipped && (used.length < sequences.length || used.some((f) => f.truncated));
  return { line: example.line, sequences, how, rows, skipped, truncated };
}

/**
 * Splits first (so the split depends only on the examples and the seed), then formats each part.
 * Throws when no training example is left.
 */
export function prepareExamples(examples: Example[], tokenizer: FormatTokenizer, opts: PrepareOptions): PreparedData {
  if (examples.length === 0) throw new Error('there are no examples to train on');
  const { train, validation } = splitValidation(examples, opts.valSplit, opts.seed);
  const truncatedLines: number[] = [];
  const skippedLines: number[] = [];
  const format = (part: Example[]): TokenRow[] => {
    const rows: TokenRow[] = [];
    for (const ex of part) {
      const r = exampleRows(ex, tokenizer, opts);
      if (r.skipped) skippedLines.push(ex.line);
      if (r.truncated) truncatedLines.push(ex.line);
      rows.push(...r.rows);
    }
    return rows;
  };
  const trainRows = format(train);
  const validationRows = format(validation);
  truncatedLines.sort((a, b) => a - b);
  skippedLines.sort((a, b) => a - b);
  if (trainRows.length === 0) {
    throw new Error(
      `none of the ${train.length} training examples has a reply token left within maxLength ${opts.maxLength}; ` +
        'raise maxLength or shorten the prompts',
    );
  }
  const longest = Math.max(...[...trainRows, ...validationRows].map((r) => r.ids.length));
  return { train: trainRows, validation: validationRows, truncatedLines, skippedLines, longest, fingerprint: fingerprint(trainRows, validationRows) };
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
