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

/** How far validation has come: `done` of `total` lines (JSONL) or records (CSV) checked. */
export interface ParseProgress {
  done: number;
  total: number;
}

/**
 * The text of a training file's bytes, which must be UTF-8 (a leading byte-order mark is kept for
 * parseDataset to drop). Invalid UTF-8 (a Latin-1 or Windows-1252 file, say) would otherwise be
 * read as U+FFFD replacement characters and trained on silently, so it is a DatasetError naming
 * each line and its first bad byte; a UTF-16 file (it starts with FF FE or FE FF) is one problem.
 */
export function decodeDataset(bytes: Uint8Array, fileName = 'dataset'): string {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    throw new DatasetError(fileName, [{ line: 0, message: 'the file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8' }]);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new DatasetError(fileName, invalidUtf8Lines(bytes));
  }
}

/** One problem per line that holds bytes that are not UTF-8, naming the first such byte. */
function invalidUtf8Lines(b: Uint8Array): DatasetProblem[] {
  const problems: DatasetProblem[] = [];
  let line = 1;
  let reported = 0;
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c === 0x0a || (c === 0x0d && b[i + 1] !== 0x0a)) line++;
    const n = utf8SequenceLength(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (reported !== line) {
      const hex = `0x${c.toString(16).toUpperCase().padStart(2, '0')}`;
      problems.push({ line, message: `not valid UTF-8 (the byte ${hex} at byte ${i} of the file); save the file as UTF-8 (it may be Latin-1 or Windows-1252)` });
      reported = line;
    }
    i++;
  }
  return problems;
}

/** The length of the well-formed UTF-8 sequence at b[i] (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF), or 0. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * The lines (counted as the parsers count them: CRLF, LF or a lone CR ends one) that hold a NUL
 * character, each as a problem. Text has none: NULs mean a binary file, or UTF-16 read as UTF-8.
 */
function nulProblems(text: string): DatasetProblem[] {
  const problems: DatasetProblem[] = [];
  let line = 1;
  let from = 0;
  for (let at = text.indexOf('\0'); at >= 0; at = text.indexOf('\0', at + 1)) {
    for (let k = from; k < at; k++) {
      const c = text.charCodeAt(k);
      if (c === 10 || (c === 13 && text.charCodeAt(k + 1) !== 10)) line++;
    }
    from = at;
    if (problems.length === 0 || problems[problems.length - 1].line !== line) {
      problems.push({ line, message: 'holds a NUL byte (U+0000), which text never does: is this a binary file, or UTF-16? Save it as UTF-8 text' });
    }
  }
  return problems;
}

/**
 * The examples of a training file. `format` 'auto' reads the file as JSONL when its first
 * non-empty line starts with '{' (or '['), and as CSV otherwise. Throws a DatasetError naming
 * every bad line; returns only when the whole file is good. `onProgress` hears about every 1 % of
 * the lines (records, for CSV) checked, and the last.
 */
export function parseDataset(text: string, format: DatasetFormat, fileName = 'dataset', onProgress?: (p: ParseProgress) => void): Example[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const problems: DatasetProblem[] = src.includes('\0') ? nulProblems(src) : [];
  let examples: Example[] = [];
  if (problems.length) {
    // Reported alone: whatever else the parsers would say about such a file is noise.
  } else if (src.trim() === '') {
    problems.push({ line: 0, message: 'the file is empty' });
  } else {
    const kind = format === 'auto' ? detectFormat(src) : format;
    const report = progressEvery(onProgress);
    examples = kind === 'jsonl' ? parseJsonl(src, problems, report) : parseCsvDataset(src, problems, report);
  }
  if (problems.length) {
    // In file order (a stable sort keeps a line's own problems in the order they were found).
    problems.sort((a, b) => a.line - b.line);
    throw new DatasetError(fileName, problems);
  }
  return examples;
}

/** Called with (done, total) after each line; passes about every 1 % of them, and the last, on to onProgress. */
type Report = (done: number, total: number) => void;

function progressEvery(onProgress?: (p: ParseProgress) => void): Report {
  if (!onProgress) return () => {};
  return (done, total) => {
    if (done === total || done % Math.max(1, Math.ceil(total / 100)) === 0) onProgress({ done, total });
  };
}

/** 'jsonl' when the first non-blank character opens a JSON object or list, else 'csv'. */
export function detectFormat(text: string): 'jsonl' | 'csv' {
  const first = text.trimStart()[0];
  return first === '{' || first === '[' ? 'jsonl' : 'csv';
}

/** One JSON object per non-empty line; each line may use any of the accepted forms. */
function parseJsonl(text: string, problems: DatasetProblem[], report: Report): Example[] {
  const wholeArray = jsonArrayProblem(text);
  if (wholeArray) {
    problems.push(wholeArray);
    return [];
  }
  const examples: Example[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((raw, k) => {
    const line = k + 1;
    report(line, lines.length);
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
function parseCsvDataset(text: string, problems: DatasetProblem[], report: Report): Example[] {
  const { records, problems: syntax } = parseCsv(text);
  for (const p of syntax) problems.push(p); // (not push(...syntax): a file may have more problems than a call may have arguments)
  const rows = records.filter((r) => r.fields.some((f) => f.trim() !== ''));
  if (rows.length === 0) return [];
  const header = rows[0];
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const twice = duplicateColumn(names);
  if (twice) {
    problems.push({ line: header.line, message: `the header row names the column "${twice.name}" twice (columns ${twice.first} and ${twice.second}); each column needs a name of its own` });
    return [];
  }
  const layout = CSV_LAYOUTS.find((l) => l.needs.every((name) => names.includes(name)));
  if (!layout) {
    problems.push({ line: header.line, message: missingColumnsMessage(header.fields) });
    return [];
  }
  const columns = [...layout.needs, ...(layout.optional ?? [])]
    .map((name) => ({ name, index: names.indexOf(name) }))
    .filter((c) => c.index >= 0);

  const examples: Example[] = [];
  for (let k = 1; k < rows.length; k++) {
    const row = rows[k];
    report(k, rows.length - 1);
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

/**
 * The first header name (trimmed, lower-cased) that appears twice, with both 1-based columns.
 * `input,output,output` would otherwise train on one of the two outputs and ignore the other
 * without a word. Blank header cells are not names and may repeat.
 */
function duplicateColumn(names: string[]): { name: string; first: number; second: number } | null {
  const seen = new Map<string, number>();
  for (let k = 0; k < names.length; k++) {
    const name = names[k];
    if (name === '') continue;
    const first = seen.get(name);
    if (first !== undefined) return { name, first: first + 1, second: k + 1 };
    seen.set(name, k);
  }
  return null;
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
