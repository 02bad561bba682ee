// Tokenizing a large dataset on every core: the examples are cut into one contiguous slice per
// worker thread, each worker loads the model's tokenizer from the same files and formats its
// slice exactly as formatPart does in this thread, and the slices' rows are joined in order, so
// the rows (and their fingerprint) are the ones a single thread makes. Small parts (under
// PARALLEL_FROM examples) are formatted here, where starting workers would cost more than it saves.
//
// The worker is this same module: a worker thread started on this file's URL (the bundled CLI,
// dist/cli/main.js) finds its job in workerData and runs formatSlice instead of the CLI. Rows come
// back packed in one Int32Array (transferred, not copied): per row its line, its length n, n ids,
// n labels.
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { memorySource, type ModelSource } from '../model/source.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import type { Example } from '../train/dataset.js';
import { formatPart, type FormattedPart, type PartFormatter, type RowOptions, type TokenRow } from '../train/prepare.js';

/** Parts with fewer examples are formatted in this thread. */
export const PARALLEL_FROM = 20_000;

/**
 * The threads to tokenize with: WEBGPU_LORA_THREADS when set (1 = this thread only), else the
 * machine's cores. Throws for a value that is not a positive integer.
 */
export function tokenizeThreads(env: Record<string, string | undefined> = process.env): number {
  const given = env.WEBGPU_LORA_THREADS;
  if (given === undefined || given === '') return availableParallelism();
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1) throw new Error(`WEBGPU_LORA_THREADS must be a positive integer, not ${JSON.stringify(given)}`);
  return n;
}

/** How often a worker reports progress, in examples. */
const REPORT_EVERY = 1_000;

/** The job a worker finds in workerData. */
interface SliceJob {
  kind: 'webgpu-lora format slice';
  /** The tokenizer's files as TextTokenizer.load read them, and the source's description (for messages). */
  files: Record<string, Uint8Array>;
  description: string;
  examples: Example[];
  opts: RowOptions;
}

/** What a worker posts: progress, its slice's rows, or an error message. */
type SliceMessage =
  | { done: number }
  | { packed: Int32Array; truncatedLines: number[]; skippedLines: number[]; longest: number }
  | { error: string };

/**
 * A PartFormatter that uses up to `threads` worker threads for
 * parts of PARALLEL_FROM examples or more, loading the tokenizer from `source` in each. Falls
 * back to this thread where workers cannot start from this module (in the test runner, whose
 * modules are TypeScript).
 */
export function workerFormatter(source: ModelSource, threads: number): PartFormatter {
  let files: Promise<{ files: Record<string, Uint8Array>; description: string }> | undefined;
  return async (examples, tokenizer, opts, onDone) => {
    const slices = Math.min(threads, Math.floor(examples.length / (PARALLEL_FROM / 2)));
    if (slices < 2 || import.meta.url.endsWith('.ts')) {
      return formatPart(examples, tokenizer, opts, () => onDone(1));
    }
    files ??= tokenizerFiles(source);
    const job = await files;
    const size = Math.ceil(examples.length / slices);
    const parts = await Promise.all(
      Array.from({ length: slices }, (_, k) => runSlice({ kind: 'webgpu-lora format slice', ...job, examples: examples.slice(k * size, (k + 1) * size), opts }, onDone)),
    );
    return joinParts(parts);
  };
}

/** The files TextTokenizer.load reads from `source` (recorded while it loads), to load it again elsewhere. */
async function tokenizerFiles(source: ModelSource): Promise<{ files: Record<string, Uint8Array>; description: string }> {
  const files: Record<string, Uint8Array> = {};
  const recording: ModelSource = {
    description: source.description,
    exists: (file) => source.exists(file),
    size: (file) => source.size(file),
    async read(file, start, end) {
      const bytes = await source.read(file, start, end);
      if (start === undefined && end === undefined) files[file] = bytes;
      return bytes;
    },
  };
  await TextTokenizer.load(recording);
  return { files, description: source.description };
}

function runSlice(job: SliceJob, onDone: (n: number) => void): Promise<FormattedPart> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      f();
      void worker.terminate();
    };
    worker.on('message', (m: SliceMessage) => {
      if ('done' in m) onDone(m.done);
      else if ('error' in m) settle(() => reject(new Error(m.error)));
      else settle(() => resolve({ rows: unpackRows(m.packed), truncatedLines: m.truncatedLines, skippedLines: m.skippedLines, longest: m.longest }));
    });
    worker.on('error', (e) => settle(() => reject(e)));
    worker.on('exit', (code) => settle(() => reject(new Error(`a tokenizing worker thread stopped (exit code ${code}) before finishing`))));
  });
}

/** The parts of consecutive slices as one part, in order. */
function joinParts(parts: FormattedPart[]): FormattedPart {
  const joined: FormattedPart = { rows: [], truncatedLines: [], skippedLines: [], longest: 0 };
  for (const p of parts) {
    for (const r of p.rows) joined.rows.push(r);
    for (const l of p.truncatedLines) joined.truncatedLines.push(l);
    for (const l of p.skippedLines) joined.skippedLines.push(l);
    joined.longest = Math.max(joined.longest, p.longest);
  }
  return joined;
}

function packRows(rows: TokenRow[]): Int32Array {
  let n = 0;
  for (const r of rows) n += 2 + 2 * r.ids.length;
  const packed = new Int32Array(n);
  let at = 0;
  for (const r of rows) {
    packed[at++] = r.line;
    packed[at++] = r.ids.length;
    packed.set(r.ids, at);
    packed.set(r.labels, at + r.ids.length);
    at += 2 * r.ids.length;
  }
  return packed;
}

function unpackRows(packed: Int32Array): TokenRow[] {
  const rows: TokenRow[] = [];
  for (let at = 0; at < packed.length; ) {
    const line = packed[at++];
    const n = packed[at++];
    rows.push({ line, ids: Array.from(packed.subarray(at, at + n)), labels: Array.from(packed.subarray(at + n, at + 2 * n)) });
    at += 2 * n;
  }
  return rows;
}

/** In a worker thread: format the slice of workerData and post the rows. */
async function formatSlice(job: SliceJob): Promise<void> {
  const port = parentPort!;
  try {
    const tokenizer = await TextTokenizer.load(memorySource(job.files, job.description));
    let pending = 0;
    const part = formatPart(job.examples, tokenizer, job.opts, () => {
      if (++pending === REPORT_EVERY) {
        port.postMessage({ done: pending } satisfies SliceMessage);
        pending = 0;
      }
    });
    if (pending > 0) port.postMessage({ done: pending } satisfies SliceMessage);
    const packed = packRows(part.rows);
    const message: SliceMessage = { packed, truncatedLines: part.truncatedLines, skippedLines: part.skippedLines, longest: part.longest };
    port.postMessage(message, [packed.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ error: (e as Error).message } satisfies SliceMessage);
  }
}

if (!isMainThread && (workerData as Partial<SliceJob> | null)?.kind === 'webgpu-lora format slice') void formatSlice(workerData as SliceJob);
