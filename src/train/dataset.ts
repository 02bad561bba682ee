// A training file (JSONL or CSV, as text) → validated examples. Parsing never stops at the first
// bad line: every problem in the file is collected and reported in one DatasetError, each as
// `<file>:<line>: <what is wrong>`, so a person can fix the whole file in one pass.
import type { ChatMessage } from '../tokenize/tokenizer.js';
import { parseCsv } from './csv.js';
import { kindOf, recordToMessages } from './records.js';

export type { ChatMessage } from '../tokenize/tokenizer.js';
export { ACCEPTED_FORMS, conversationProblems } from './records.js';

export type DatasetFormat = 'jsonl' | 'csv' | 'auto';

/** One training example: a conversation, and the line of the file it came from. */
export interface Example {
  /**
   * Normalized: [system?] user, assistant, (user, assistant)*. Input/output forms give one user
   * and one assistant message; only the "messages" form can carry a system message.
   */
  messages: ChatMessage[];
  /** The 1-based physical line of the file (for CSV, the line on which the record starts). */
  line: number;
}

export interface DatasetProblem {
  /** 1-based line of the file; 0 for a problem of the file as a whole (e.g. it is empty). */
  line: number;
  message: string;
}

/** At most this many problems are written into the error's message; `problems` holds them all. */
export const MAX_LISTED_PROBLEMS = 50;

/** Everything wrong with a training file. The message lists the problems one per line. */
export class DatasetError extends Error {
  readonly fileName: string;
  readonly problems: DatasetProblem[];

  constructor(fileName: string, problems: DatasetProblem[]) {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => describeProblem(fileName, p));
    if (problems.length > MAX_LISTED_PROBLEMS) listed.push(`and ${problems.length - MAX_LISTED_PROBLEMS} more`);
    super(listed.join('\n'));
    this.name = 'DatasetError';
    this.fileName = fileName;
    this.problems = problems;
  }
}

/** `data.jsonl:5: missing "output"`, or `data.jsonl: the file is empty` for line 0. */
export function describeProblem(fileName: string, p: DatasetProblem): string {
  return p.line > 0 ? `${fileName}:${p.line}: ${p.message}` : `${fileName}: ${p.message}`;
}

/**
 * The examples of a training file. `format` 'auto' reads the file as JSONL when its first
 * non-empty line starts with '{' (or '['), and as CSV otherwise. Throws a DatasetError naming
 * every bad line; returns only when the whole file is good.
 */
export function parseDataset(text: string, format: DatasetFormat, fileName = 'dataset'): Example[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const problems: DatasetProblem[] = [];
  let examples: Example[] = [];
  if (src.trim() === '') {
    problems.push({ line: 0, message: 'the file is empty' });
  } else {
    const kind = format === 'auto' ? detectFormat(src) : format;
    examples = kind === 'jsonl' ? parseJsonl(src, problems) : parseCsvDataset(src, problems);
  }
  if (problems.length) {
    // In file order (a stable sort keeps a line's own problems in the order they were found).
    problems.sort((a, b) => a.line - b.line);
    throw new DatasetError(fileName, problems);
  }
  return examples;
}

/** 'jsonl' when the first non-blank character opens a JSON object or list, else 'csv'. */
export function detectFormat(text: string): 'jsonl' | 'csv' {
  const first = text.trimStart()[0];
  return first === '{' || first === '[' ? 'jsonl' : 'csv';
}

/** One JSON object per non-empty line; each line may use any of the accepted forms. */
function parseJsonl(text: string, problems: DatasetProblem[]): Example[] {
  const wholeArray = jsonArrayProblem(text);
  if (wholeArray) {
    problems.push(wholeArray);
    return [];
  }
  const examples: Example[] = [];
  text.split(/\r\n|\n|\r/).forEach((raw, k) => {
    const line = k + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      problems.push({ line, message: `not valid JSON (${(e as Error).message})` });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push({ line, message: `expected a JSON object such as {"input": "...", "output": "..."}, found ${kindOf(value)}` });
      return;
    }
    addRecord(value as Record<string, unknown>, line, examples, problems);
  });
  return examples;
}

/**
 * A file that is one JSON list of objects (a common mix-up with JSONL) gets one clear problem
 * instead of a "not valid JSON" for every line of a pretty-printed list.
 */
function jsonArrayProblem(text: string): DatasetProblem | null {
  if (text.trimStart()[0] !== '[') return null;
  try {
    if (!Array.isArray(JSON.parse(text))) return null;
  } catch {
    return null;
  }
  return { line: 1, message: 'the file is one JSON list; write one JSON object per line instead (JSONL), e.g. {"input": "...", "output": "..."}' };
}

/** Header names (case-insensitive) → the record keys they fill. */
const CSV_LAYOUTS: Array<{ needs: string[]; optional?: string[] }> = [
  { needs: ['instruction', 'output'], optional: ['input'] },
  { needs: ['input', 'output'] },
  { needs: ['prompt', 'completion'] },
];

/** A header row naming the columns, then one example per row; blank rows are skipped. */
function parseCsvDataset(text: string, problems: DatasetProblem[]): Example[] {
  const { records, problems: syntax } = parseCsv(text);
  problems.push(...syntax);
  const rows = records.filter((r) => r.fields.some((f) => f.trim() !== ''));
  if (rows.length === 0) return [];
  const [header, ...body] = rows;
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const layout = CSV_LAYOUTS.find((l) => l.needs.every((name) => names.includes(name)));
  if (!layout) {
    problems.push({ line: header.line, message: missingColumnsMessage(header.fields) });
    return [];
  }
  const columns = [...layout.needs, ...(layout.optional ?? [])]
    .map((name) => ({ name, index: names.indexOf(name) }))
    .filter((c) => c.index >= 0);

  const examples: Example[] = [];
  for (const row of body) {
    if (row.fields.length !== header.fields.length) {
      problems.push({
        line: row.line,
        message:
          `${row.fields.length} field${row.fields.length === 1 ? '' : 's'}, but the header row has ${header.fields.length} ` +
          '(a value that contains a comma, a quote or a line break must be in double quotes)',
      });
      continue;
    }
    const record: Record<string, unknown> = {};
    for (const c of columns) record[c.name] = row.fields[c.index];
    addRecord(record, row.line, examples, problems);
  }
  if (examples.length === 0 && problems.length === 0) {
    problems.push({ line: 0, message: 'the file has a header row but no examples' });
  }
  return examples;
}

function missingColumnsMessage(fields: string[]): string {
  const found = fields.map((f) => JSON.stringify(f.trim())).join(', ');
  let hint = '';
  if (fields.length === 1 && /[;\t]/.test(fields[0])) hint = '; the columns must be separated by commas';
  return `the header row has no "input" and "output" columns (found: ${found}); name them input and output (or prompt and completion)${hint}`;
}

/** The record's example, or its problems, each tagged with the line. */
function addRecord(record: Record<string, unknown>, line: number, examples: Example[], problems: DatasetProblem[]): void {
  const result = recordToMessages(record);
  if ('messages' in result) examples.push({ messages: result.messages, line });
  else for (const message of result.problems) problems.push({ line, message });
}
