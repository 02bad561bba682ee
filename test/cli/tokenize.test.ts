// webgpu-lora tokenize, as a user runs it: with --json, on ../shared/golden-format/examples.jsonl
// and each of the four *-vocab folders, exactly the ids and labels of reference.json (every line,
// every sequence; the binary once, main() in this process for the others), and nothing else on
// stdout; the readable view with the learned spans marked, counts, truncation and skipping; and the
// usage and data errors of the other commands.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHARED_DIR } from '../helpers.js';
import { EXAMPLES_FILE, GOLDEN_FORMAT_FAMILIES, readReference, type ReferenceSequence } from '../tokenize/golden-format-reference.js';
import { modelDir, suiteTitle } from '../tokenize/fixtures.js';
import { cli, cliInProcess, type CliResult } from './run-cli.js';

function dataFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-tokenize-data-')), name);
  writeFileSync(file, text);
  return file;
}

/** stdout as {"line", "input_ids", "labels"} objects, one per line, grouped by line (in order). */
function sequencesByLine(stdout: string): Map<number, ReferenceSequence[]> {
  const byLine = new Map<number, ReferenceSequence[]>();
  for (const text of stdout.trimEnd().split('\n')) {
    const o = JSON.parse(text) as { line: number; input_ids: number[]; labels: number[] };
    expect(Object.keys(o)).toEqual(['line', 'input_ids', 'labels']);
    byLine.set(o.line, [...(byLine.get(o.line) ?? []), { input_ids: o.input_ids, labels: o.labels }]);
  }
  return byLine;
}

function expectReference(r: CliResult | { status: number | null; stdout: string; stderr: string }, family: string): void {
  expect(r.status, r.stderr).toBe(0);
  const got = sequencesByLine(r.stdout);
  const ref = readReference()[family];
  expect([...got.keys()]).toEqual(ref.examples.map((e) => e.line));
  for (const want of ref.examples) expect(got.get(want.line), `${family} line ${want.line} (${want.how})`).toEqual(want.sequences);
  // The summary goes to stderr, so stdout stays JSON.
  expect(r.stderr).toMatch(/10 examples → \d+ training sequences/);
}

describe.skipIf(!SHARED_DIR)(suiteTitle('webgpu-lora tokenize --json: the ids and labels of ../shared/golden-format'), () => {
  for (const family of GOLDEN_FORMAT_FAMILIES) {
    it(`${family}, in this process`, async () => {
      expectReference(await cliInProcess(['tokenize', '--model', modelDir(family), '--data', EXAMPLES_FILE, '--json']), family);
    });
  }

  it('qwen3-vocab, through the binary, with --hf-token taken by the CLI before the command parses its options', () => {
    expectReference(cli(['tokenize', '--model', modelDir('qwen3-vocab'), '--hf-token', 'hf_unused', '--data', EXAMPLES_FILE, '--json']), 'qwen3-vocab');
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('webgpu-lora tokenize: the readable view'), () => {
  it('marks the learned spans, says how each conversation became sequences, and counts', async () => {
    const r = await cliInProcess(['tokenize', '--model', modelDir('qwen3-vocab'), '--data', EXAMPLES_FILE]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('learned tokens between ⟦ and ⟧; cut at --max-length 512');
    // Qwen3 makes the model write an empty reasoning block first; the reply keeps its leading space.
    expect(r.stdout).toContain('── line 4: one sequence\n20 tokens, 7 learned\n<|im_start|>user\nTranslate to French: cat<|im_end|>\n<|im_start|>assistant\n⟦<think>\n\n</think>\n\n chat<|im_end|>\n⟧\n');
    expect(r.stdout).toContain('── line 8: one sequence per reply (the template is not prefix-stable)\nsequence 1 of 2: 22 tokens, 13 learned\n');
    expect(r.stdout).toMatch(/\n10 examples → 13 training sequences, \d+ tokens, \d+ learned\n$/);
  });

  it('shows what --max-length cuts off and what it leaves nothing to learn in', async () => {
    const r = await cliInProcess(['tokenize', '--model', modelDir('qwen2.5-vocab'), '--data', EXAMPLES_FILE, '--max-length', '40']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/── line 1: one sequence\n40 tokens, 0 learned; cut from 103 tokens to 40; skipped: nothing left to learn\n/);
    expect(r.stdout).toMatch(/\n7 examples cut to 40 tokens \(lines 2, 3, 6, 7, 8, 9, 10\)\n2 examples skipped: nothing of their reply fits in 40 tokens \(lines 1, 5\)\n$/);
    // In JSON, only the sequences training uses.
    const j = await cliInProcess(['tokenize', '--model', modelDir('qwen2.5-vocab'), '--data', EXAMPLES_FILE, '--max-length', '40', '--json']);
    const lines = [...sequencesByLine(j.stdout).keys()];
    expect(lines).toEqual([2, 3, 4, 6, 7, 8, 9, 10]);
    for (const o of j.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))) expect(o.input_ids.length).toBeLessThanOrEqual(40);
  });

  it('learns the prompts too with --train-on-inputs', async () => {
    const data = dataFile('one.jsonl', '{"input": "Hi", "output": "Hello."}\n');
    const r = await cliInProcess(['tokenize', '--model', modelDir('llama3-vocab'), '--data', data, '--json', '--train-on-inputs']);
    const [o] = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(o.labels).toEqual([-100, ...o.input_ids.slice(1)]);
  });
});

describe('webgpu-lora tokenize: usage and data errors', () => {
  it('rejects a missing --model or --data and a bad --max-length (exit 2), before reading anything', async () => {
    const data = dataFile('ok.jsonl', '{"input": "Hi", "output": "Hello."}\n');
    const cases: Array<[string[], RegExp]> = [
      [['--data', data], /tokenize needs --model/],
      [['--model', './no/such/model'], /tokenize needs --data/],
      [['--model', './no/such/model', '--data', data, '--max-length', '0'], /--max-length: /],
      [['--model', './no/such/model', '--data', data, '--max-length', 'long'], /--max-length must be a number, got 'long'/],
      [['--model', './no/such/model', '--data', data, '--epochs', '3'], /Unknown option '--epochs'/],
    ];
    for (const [args, message] of cases) {
      const r = await cliInProcess(['tokenize', ...args]);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('names every bad line of the data file and exits 1, without looking at the model', async () => {
    const data = dataFile('bad.jsonl', '{"input": "Hi", "output": "Hello."}\n{"input": "What is red?"}\n');
    const r = await cliInProcess(['tokenize', '--model', './no/such/model', '--data', data, '--json']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^bad\.jsonl:2: missing "output"/m);
    expect(r.stderr).toMatch(/has 1 problem; fix it and run again \(nothing was tokenized\)/);
    expect(r.stdout).toBe('');
  });

  it('is in the help', async () => {
    const r = await cliInProcess(['--help']);
    expect(r.stdout).toMatch(/webgpu-lora tokenize --model <dir\|url\|hf-id> --data <file\.jsonl\|file\.csv> \[--max-length T\]/);
  });
});
