// webgpu-lora tokenize: what training sees of a data file, without a GPU. Each example's training
// sequences come from exampleRows (src/train/prepare.ts), the function training takes its rows
// from: the text with the learned spans marked, token counts and truncation, or with --json one
// object per training sequence, {"line", "input_ids", "labels"}, and nothing else on stdout.
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { parseModelConfig } from '../model/config.js';
import { readJsonIfExists, type ModelSource } from '../model/source.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import { resolveTrainingConfig } from '../train/config.js';
import { IGNORE_INDEX, type FormattedExample } from '../train/format.js';
import { exampleRows, type ExampleRows } from '../train/prepare.js';
import { UsageError } from './common.js';
import { resolveModelSource } from './model-source.js';
import { configFromOptions, readExamples } from './train.js';

export const TOKENIZE_USAGE = `  webgpu-lora tokenize --model <dir|url|hf-id> --data <file.jsonl|file.csv> [--max-length T]
                       [--train-on-inputs] [--json]
      Shows what training sees of the data: each example as the model's chat template (or the
      plain template) writes it, the learned tokens between ⟦ and ⟧, its token counts, and what
      --max-length (default 512, at most the model's positions) cuts off. A conversation that the
      template cannot write as one sequence becomes one sequence per reply. --json prints one JSON
      object per training sequence instead, {"line": N, "input_ids": [...], "labels": [...]}
      (labels -100 where there is no loss). Reads only the tokenizer files and config.json.`;

const OPEN = '⟦';
const CLOSE = '⟧';

export async function tokenizeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      'max-length': { type: 'string' },
      'train-on-inputs': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  for (const k of ['model', 'data'] as const) if (!values[k]) throw new UsageError(`tokenize needs --${k}`);
  // The training settings' own checks and defaults (--max-length 512).
  const config = resolveTrainingConfig(
    configFromOptions({ 'max-length': values['max-length'], 'train-on-inputs': values['train-on-inputs'] ? 'true' : undefined }),
  );
  const examples = readExamples(values.data!, 'nothing was tokenized');
  if (examples === null) return 1;

  const source = resolveModelSource(values.model!);
  const tokenizer = await TextTokenizer.load(source);
  const positions = await modelPositions(source);
  const maxLength = positions === null ? config.maxLength : Math.min(config.maxLength, positions);

  const file = basename(values.data!);
  const all: ExampleRows[] = [];
  for (const ex of examples) {
    try {
      all.push(exampleRows(ex, tokenizer, { maxLength, trainOnInputs: config.trainOnInputs }));
    } catch (e) {
      throw new Error(`${file}:${ex.line}: ${(e as Error).message}`);
    }
  }

  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (values.json) {
    for (const r of all) for (const row of r.rows) out(JSON.stringify({ line: row.line, input_ids: row.ids, labels: row.labels }));
  } else {
    const cap = maxLength === config.maxLength ? `--max-length ${maxLength}` : `the model's ${maxLength} positions`;
    out(`${file} with the tokenizer of ${source.description}; learned tokens between ${OPEN} and ${CLOSE}; cut at ${cap}`);
    for (const r of all) showExample(r, tokenizer, maxLength, out);
  }
  summarize(all, maxLength, values.json ? (line) => process.stderr.write(`${line}\n`) : out);
  return 0;
}

/** max_position_embeddings (or its model type's default) from config.json, or null without a readable one. */
async function modelPositions(source: ModelSource): Promise<number | null> {
  try {
    const config = await readJsonIfExists(source, 'config.json');
    return config === null ? null : parseModelConfig(config, `${source.description}/config.json`).maxPositions;
  } catch {
    return null; // training would report the problem; tokenizing does not need the model
  }
}

function showExample(r: ExampleRows, tokenizer: TextTokenizer, maxLength: number, out: (line: string) => void): void {
  const n = r.sequences.length;
  out('');
  out(`── line ${r.line}: ${r.how}`);
  r.sequences.forEach((seq, k) => {
    const learned = seq.labels.filter((l) => l !== IGNORE_INDEX).length;
    let counts = `${seq.ids.length} tokens, ${learned} learned`;
    if (seq.truncated) counts += `; cut from ${seq.fullLength} tokens to ${maxLength}`;
    if (seq.trainableTokens === 0) counts += '; skipped: nothing left to learn';
    out(n === 1 ? counts : `sequence ${k + 1} of ${n}: ${counts}`);
    out(markedText(seq, tokenizer));
  });
}

/**
 * The sequence's text with special tokens, each learned run between OPEN and CLOSE. Each run's
 * text is read off the decoded text up to its end (so that it reads as it does in context), or,
 * where the decoder rewrites earlier text, decoded on its own.
 */
function markedText(seq: FormattedExample, tokenizer: TextTokenizer): string {
  const decode = (ids: number[]) => tokenizer.decode(ids, { skipSpecialTokens: false });
  let text = '';
  let shown = '';
  let start = 0;
  for (let t = 1; t <= seq.ids.length; t++) {
    const learn = seq.labels[start] !== IGNORE_INDEX;
    if (t < seq.ids.length && (seq.labels[t] !== IGNORE_INDEX) === learn) continue;
    const upTo = decode(seq.ids.slice(0, t));
    const piece = upTo.startsWith(shown) ? upTo.slice(shown.length) : decode(seq.ids.slice(start, t));
    text += learn ? `${OPEN}${piece}${CLOSE}` : piece;
    shown = upTo;
    start = t;
  }
  return text;
}

function summarize(all: ExampleRows[], maxLength: number, out: (line: string) => void): void {
  const rows = all.flatMap((r) => r.rows);
  const tokens = rows.reduce((s, r) => s + r.ids.length, 0);
  const learned = rows.reduce((s, r) => s + r.labels.filter((l) => l !== IGNORE_INDEX).length, 0);
  const lines = (l: number[]) => `line${l.length === 1 ? '' : 's'} ${l.slice(0, 20).join(', ')}${l.length > 20 ? ', ...' : ''}`;
  const truncated = all.filter((r) => r.truncated).map((r) => r.line);
  const skipped = all.filter((r) => r.skipped).map((r) => r.line);
  const s = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  out('');
  out(`${s(all.length, 'example')} → ${s(rows.length, 'training sequence')}, ${s(tokens, 'token')}, ${learned} learned`);
  if (truncated.length) out(`${s(truncated.length, 'example')} cut to ${maxLength} tokens (${lines(truncated)})`);
  if (skipped.length) out(`${s(skipped.length, 'example')} skipped: nothing of their reply fits in ${maxLength} tokens (${lines(skipped)})`);
}
