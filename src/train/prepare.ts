// Examples → the token rows a training run uses: the seeded validation split, every example
// formatted (ids + labels, cut at maxLength), the truncated ones counted, and the ones with nothing
// left to learn (every reply token cut off) skipped and counted. A fingerprint of the rows lets a
// resumed run check that it was given the same data.
import type { Example } from './dataset.js';
import { splitValidation } from './batches.js';
import { formatExample, type FormatTokenizer } from './format.js';

/** One formatted example: ids, labels (−100 = no loss), and the line of the file it came from. */
export interface TokenRow {
  ids: number[];
  labels: number[];
  line: number;
}

export interface PreparedData {
  train: TokenRow[];
  validation: TokenRow[];
  /** Lines of the examples cut at maxLength that still have reply tokens (they are trained on). */
  truncatedLines: number[];
  /** Lines of the examples left with no reply token after the cut (they are not used). */
  skippedLines: number[];
  /** The longest row, in tokens (≤ maxLength). */
  longest: number;
  /** A hash of every row's ids and labels, in order (hex). */
  fingerprint: string;
}

export interface PrepareOptions {
  maxLength: number;
  trainOnInputs: boolean;
  valSplit: number;
  seed: number;
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
      const f = formatExample(ex, tokenizer, { maxLength: opts.maxLength, trainOnInputs: opts.trainOnInputs });
      if (f.trainableTokens === 0) {
        skippedLines.push(ex.line);
        continue;
      }
      if (f.truncated) truncatedLines.push(ex.line);
      rows.push({ ids: f.ids, labels: f.labels, line: ex.line });
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
