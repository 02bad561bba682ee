// A 200,000-example dataset (50 MB) through `webgpu-lora train` as a user runs it (the binary,
// re-running itself on SwiftShader on this machine): validated and tokenized with progress on
// stderr, on every core (src/cli/format-workers.ts), with the validation split capped, and its
// first training step done within a minute of the command starting. (In the e2e project, which
// runs one file at a time: the minute is the run's own, not shared with other tests.) The rows tokenized on worker
// threads are the rows one thread makes: two runs on 30,000 examples, with WEBGPU_LORA_THREADS=1
// and without, record the same data fingerprint in their checkpoints.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_VALIDATION_EXAMPLES } from '../../src/train/batches.js';
import { ensureBuilt } from '../setup/dist.js';
import { processesWith } from '../cli/processes.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { bigJsonl } from '../train/big-dataset.js';

const root = join(import.meta.dirname, '..', '..');
const BIN = join(root, 'bin', 'webgpu-lora.js');

interface TimedRun {
  status: number | null;
  output: string;
  /** The largest resident memory seen of any process of the run (sampled every 100 ms), in bytes. */
  peakRss: number;
  /** Milliseconds from the start to the first output matching each mark (Infinity where none did). */
  at: number[];
}

/** Runs the binary without the SwiftShader variables (so that it re-runs itself there), timing the first output matching each mark. */
function runTimed(args: string[], marks: RegExp[], env: Record<string, string> = {}): Promise<TimedRun> {
  ensureBuilt('cli');
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of ['VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', 'XDG_RUNTIME_DIR']) delete childEnv[k];
  const start = performance.now();
  const proc = spawn(BIN, args, { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  // The run's processes are those whose command line names its --out (the started one and its SwiftShader re-run).
  const out = args[args.indexOf('--out') + 1];
  let peakRss = 0;
  const sampler = setInterval(() => {
    for (const pid of processesWith(out)) peakRss = Math.max(peakRss, residentBytes(pid));
  }, 100);
  let output = '';
  const at = marks.map(() => Infinity);
  const take = (b: Buffer) => {
    output += b;
    marks.forEach((mark, k) => {
      if (at[k] === Infinity && mark.test(output)) at[k] = performance.now() - start;
    });
  };
  proc.stdout.on('data', take);
  proc.stderr.on('data', take);
  return new Promise((resolve) => proc.once('close', (status) => {
    clearInterval(sampler);
    resolve({ status, output, at, peakRss });
  }));
}

/** VmRSS of a process (0 once it is gone). */
function residentBytes(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

const dataFile = (n: number) => {
  const file = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-large-')), `stories-${n}.jsonl`);
  writeFileSync(file, bigJsonl(n));
  return file;
};
const outDir = () => join(mkdtempSync(join(tmpdir(), 'webgpu-lora-large-out-')), 'adapter');

describe.skipIf(!SHARED_DIR)(`webgpu-lora train on 200,000 examples${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const model = () => join(SHARED_DIR!, 'models', 'stories260K');

  it('reports its progress and finishes its first step within a minute', async () => {
    const data = dataFile(200_000);
    // Two steps: the line of the last step comes after the final evaluation; the first one's right after it.
    const marks = [/^tokenizing: 100%/m, /^before training: validation loss/m, /step\s+1\/2/m];
    // With the JavaScript heap capped at 1 GiB (V8 otherwise lets garbage pile up to several GiB
    // on a machine with plenty of memory before collecting): the run must fit in it.
    const r = await runTimed(['train', '--model', model(), '--data', data, '--out', outDir(), '--max-steps', '2'], marks, { NODE_OPTIONS: '--max-old-space-size=1024' });
    expect(r.status, r.output).toBe(0);
    const [tokenized, evaluated, stepped] = r.at.map((ms) => (ms / 1000).toFixed(1));
    console.log(
      `200,000 examples, seconds after the command started: tokenized ${tokenized}, evaluated before training ${evaluated}, ` +
        `step 1 done ${stepped}; peak resident memory of a process ${(r.peakRss / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(r.output).toMatch(/^tokenizing: 50% \(100,000 of 200,000 examples\)$/m);
    expect(r.output).toMatch(/^tokenizing: 100% \(200,000 of 200,000 examples\)$/m);
    expect(r.output).toContain(`${(200_000 - MAX_VALIDATION_EXAMPLES).toLocaleString('en-US')} training and ${MAX_VALIDATION_EXAMPLES} validation examples; 2 steps (`);
    expect(r.output).toMatch(/^before training: validation loss \d/m);
    expect(r.at[2]).toBeLessThan(60_000);
    // The rows of every example are held (not yet only the batch's): under a GiB in all.
    expect(r.peakRss).toBeGreaterThan(0);
    expect(r.peakRss).toBeLessThan(1.5 * 2 ** 30);
  }, 180_000);

  it('tokenizes on worker threads into exactly the rows of one thread', async () => {
    const data = dataFile(30_000);
    const fingerprint = async (threads: string) => {
      const out = outDir();
      const r = await runTimed(['train', '--model', model(), '--data', data, '--out', out, '--max-steps', '2', '--checkpoint-every', '1', '--val-split', '0'], [], { WEBGPU_LORA_THREADS: threads });
      expect(r.status, r.output).toBe(0);
      return JSON.parse(readFileSync(join(out, 'checkpoint-1', 'trainer_state.json'), 'utf8')).data;
    };
    const one = await fingerprint('1');
    const all = await fingerprint('');
    expect(one.train).toBe(30_000);
    expect(all).toEqual(one);
  }, 180_000);
});
