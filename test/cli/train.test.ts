// webgpu-lora train, as a user runs it: bad data files are reported line by line before anything
// is loaded or written; a short run on stories260K learns a dozen question → answer pairs; a run
// resumed from one of its checkpoints ends with the same adapter as the uninterrupted run.
// The learning run is `npx webgpu-lora` in a child process, as a user runs it; the other checks
// run the same main() in this process (cliInProcess), where a child process adds nothing.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateTokens } from '../../src/generate/generate.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { splitValidation } from '../../src/train/batches.js';
import { parseDataset } from '../../src/train/dataset.js';
import { formatPrompt } from '../../src/train/format.js';
import { configFromOptions, parseOptions, SETTINGS, TRAIN_USAGE } from '../../src/cli/train.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { storiesEndingWithBos } from '../stories-eos.js';
import { cli, cliInProcess } from './run-cli.js';

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `webgpu-lora-${prefix}-`));

function dataFile(name: string, text: string): string {
  const file = join(tmp('data'), name);
  writeFileSync(file, text);
  return file;
}

describe('webgpu-lora train: bad data files', () => {
  const run = (data: string, out: string) => cliInProcess(['train', '--model', './no/such/model', '--data', data, '--out', out]);

  it('names every bad JSONL line on stderr, exits 1 and writes nothing', async () => {
    const data = dataFile(
      'bad.jsonl',
      [
        '{"input": "Hi", "output": "Hello."}',
        '{"input": "Hi", "output": "Hello."',
        '{"input": "What is red?"}',
        '{"input": "Who is Tom?", "output": ""}',
        '{"question": "a", "answer": "b"}',
        '{"input": "Who is Lily?", "output": "A girl."}',
      ].join('\n'),
    );
    const out = join(tmp('out'), 'adapter');
    const r = await run(data, out);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^bad\.jsonl:2: not valid JSON/m);
    expect(r.stderr).toMatch(/^bad\.jsonl:3: missing "output"/m);
    expect(r.stderr).toMatch(/^bad\.jsonl:4: "output" is empty/m);
    expect(r.stderr).toMatch(/^bad\.jsonl:5: missing "input" and "output"/m);
    expect(r.stderr).not.toMatch(/bad\.jsonl:[16]:/);
    expect(r.stderr).toMatch(/has 4 problems; fix them and run again \(nothing was trained or written\)/);
    // The data is checked before the model (which does not exist) is looked at.
    expect(r.stderr).not.toMatch(/no\/such\/model/);
    expect(existsSync(out)).toBe(false);
  });

  it('reports a CSV file without input/output columns', async () => {
    const data = dataFile('bad.csv', 'question,answer\nWhat is red?,The ball.\n');
    const out = join(tmp('out'), 'adapter');
    const r = await run(data, out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^bad\.csv:1: the header row has no "input" and "output" columns \(found: "question", "answer"\)/m);
    expect(existsSync(out)).toBe(false);
  });

  it('reports an empty file and a missing one', async () => {
    const empty = await cliInProcess(['train', '--model', 'm', '--data', dataFile('empty.jsonl', ''), '--out', join(tmp('out'), 'a')]);
    expect(empty.status).toBe(1);
    expect(empty.stderr).toMatch(/^empty\.jsonl: the file is empty/m);
    const missing = await cliInProcess(['train', '--model', 'm', '--data', './no/such/data.jsonl', '--out', join(tmp('out'), 'a')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/--data '\.\/no\/such\/data\.jsonl' is not a file/);
  });

  it('rejects bad options with the option named and exit code 2', async () => {
    const data = dataFile('ok.jsonl', '{"input": "Hi", "output": "Hello."}\n');
    const cases: Array<[string[], RegExp]> = [
      [['--lr', 'fast'], /--lr must be a number, got 'fast'/],
      [['--val-split', '1.5'], /--val-split: must be in \[0, 1\)/],
      [['--epochs', '0'], /--epochs: must be an integer ≥ 1, got 0/],
      [['--schedule', 'step'], /--schedule: must be one of linear, cosine, constant/],
      [['--rank', '2.5'], /--rank: \(the rank\) must be an integer ≥ 1/],
      [['--checkpoint-every', '0'], /--checkpoint-every must be an integer ≥ 1/],
      [['--weights', 'bf16'], /--weights must be f32, f16, nf4 or q8, got 'bf16'/],
      [['--resume', 'x', '--epochs', '2'], /--resume continues with the checkpoint's own settings; leave out --epochs/],
    ];
    for (const [extra, message] of cases) {
      const r = await cliInProcess(['train', '--model', 'm', '--data', data, '--out', join(tmp('out'), 'a'), ...extra]);
      expect(r.status, `${extra.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const none = await cliInProcess(['train', '--data', data]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/train needs --model/);
  });
});

describe('webgpu-lora train: --gradient-checkpointing', () => {
  it('is a switch that turns the setting on (off without it), and the help names it', () => {
    const config = (argv: string[]) => configFromOptions(parseOptions(argv, SETTINGS));
    expect(config(['--gradient-checkpointing']).gradientCheckpointing).toBe(true);
    expect(config([]).gradientCheckpointing).toBeUndefined();
    expect(() => parseOptions(['--gradient-checkpointing=yes'], SETTINGS)).toThrow();
    expect(TRAIN_USAGE).toMatch(/\[--gradient-checkpointing\]/);
    expect(TRAIN_USAGE).toMatch(/--gradient-checkpointing keeps one layer's activations/);
  });
});

describe('webgpu-lora train: --weights', () => {
  it('the help names it and what f16 storage changes', () => {
    expect(TRAIN_USAGE).toMatch(/\[--weights f32\|f16\|nf4\|q8\]/);
    expect(TRAIN_USAGE).toMatch(/--weights f16 stores the model's frozen matrices\s+as f16/);
  });
});

/**
 * A dozen questions and answers written for this test in TinyStories' words, and three more that
 * the seeded validation split (0.2 of 15, seed 0) holds out.
 */
const PAIRS = [
  ['What color is the sky?', 'The sky is blue.'],
  ['What color is the grass?', 'The grass is green.'],
  ['What color is the sun?', 'The sun is yellow.'],
  ['What color is the snow?', 'The snow is white.'],
  ['What does the cat say?', 'The cat says meow.'],
  ['What does the dog say?', 'The dog says woof.'],
  ['What does the cow say?', 'The cow says moo.'],
  ['What does the duck say?', 'The duck says quack.'],
  ['Where does the fish live?', 'The fish lives in the water.'],
  ['Where does the bird live?', 'The bird lives in a nest.'],
  ['Where does the bee live?', 'The bee lives in a hive.'],
  ['Where does the bear live?', 'The bear lives in a cave.'],
  ['What color is the apple?', 'The apple is red.'],
  ['What does the sheep say?', 'The sheep says baa.'],
  ['Where does the frog live?', 'The frog lives in the pond.'],
];

/**
 * The learning run: train on PAIRS with the binary (with `--weights <weights>` when given), then
 * check the run's report, that the held-out loss went down by a quarter, and that at least 10 of
 * the 12 training answers come back greedily from their prompts (on the model loaded with the
 * same weight storage it was trained on). Logs the run time and the answers that did not.
 */
async function learnsPairs(weights?: 'nf4'): Promise<void> {
  const modelDir = storiesEndingWithBos();
  const text = PAIRS.map(([input, output]) => JSON.stringify({ input, output })).join('\n');
  const data = dataFile('pairs.jsonl', `${text}\n`);
  const out = join(tmp('out'), 'adapter');
  // 12 training examples in batches of 4: 3 steps per epoch, 30 steps.
  const args = ['--epochs', '10', '--lr', '1e-2', '--rank', '8', '--alpha', '16', '--schedule', 'linear', '--val-split', '0.2', '--seed', '0'];
  if (weights) args.push('--weights', weights);
  const started = performance.now();
  const r = cli(['train', '--model', modelDir, '--data', data, '--out', out, ...args], 900_000);
  const seconds = (performance.now() - started) / 1000;
  expect(r.status, r.stderr).toBe(0);
  console.log(`train${weights ? ` --weights ${weights}` : ''}: ${seconds.toFixed(1)} s\n${r.stdout}`);
  expect(r.stdout).toMatch(/^12 training and 3 validation examples; 30 steps \(3 per epoch, batch 4×1\)/m);
  // Progress goes to stderr (not a TTY here): a line every 2 steps, the last one included.
  expect(r.stderr).toMatch(/^step 30\/30 {2}epoch 10\.00 {2}loss \d+\.\d{4} {2}lr 3\.33e-4 {2}\d+ tok\/s/m);
  expect(r.stderr).toMatch(/^before training: validation loss \d+\.\d{4}$/m);
  const [, before, after] = /^validation loss: (\d+\.\d+) before training, (\d+\.\d+) after$/m.exec(r.stdout)!.map(Number);
  expect(after).toBeLessThan(before * 0.75);
  expect(r.stdout).toMatch(/^truncated examples: 0; skipped examples: 0$/m);
  expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

  // Greedy answers with the trained adapter, from the prompt as training formatted it, to EOS.
  const source = folderSource(modelDir);
  const tokenizer = await TextTokenizer.load(source);
  const model = await LanguageModel.load(await gpu(), source, undefined, { weightStorage: weights ?? 'f32' });
  const adapter = await importPeft(folderSource(out), model.spec);
  expect(adapter.config).toMatchObject({ r: 8, alpha: 16 });
  const lora = GpuLora.create(await gpu(), adapter);
  const { train } = splitValidation(parseDataset(text, 'jsonl'), 0.2, 0);
  expect(train.length).toBe(12);
  const wrong: string[] = [];
  for (const ex of train) {
    const [question, answer] = ex.messages.map((m) => m.content);
    const g = await generateTokens(model, formatPrompt(question, tokenizer), { maxNewTokens: 24, lora });
    const got = tokenizer.decode(g.ids);
    if (got !== answer || g.stopReason !== 'eos') wrong.push(`${question} → ${JSON.stringify(got)} (${g.stopReason})`);
  }
  lora.destroy();
  model.destroy();
  console.log(`${12 - wrong.length} of 12 answers reproduced${weights ? ` (--weights ${weights})` : ''}${wrong.length ? `; wrong:\n${wrong.join('\n')}` : ''}`);
  expect(wrong.length, wrong.join('\n')).toBeLessThanOrEqual(2);
}

describe.skipIf(!SHARED_DIR)(`webgpu-lora train on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('learns a dozen question → answer pairs, and the held-out loss goes down', () => learnsPairs(), 900_000);

  it('learns them as well on an NF4-quantized base (--weights nf4, QLoRA): at least 10 of 12', () => learnsPairs('nf4'), 900_000);

  it('checkpoints, and a run resumed from a checkpoint writes the same adapter as the uninterrupted run', async () => {
    const modelDir = join(SHARED_DIR!, 'models', 'stories260K');
    const data = dataFile('few.jsonl', PAIRS.slice(0, 6).map(([input, output]) => JSON.stringify({ input, output })).join('\n'));
    const settings = ['--max-steps', '4', '--batch-size', '2', '--rank', '2', '--targets', 'q_proj,v_proj', '--lr', '1e-2', '--val-split', '0', '--seed', '3'];
    const whole = join(tmp('out'), 'whole');
    const a = await cliInProcess(['train', '--model', modelDir, '--data', data, '--out', whole, ...settings, '--checkpoint-every', '2']);
    expect(a.status, a.stderr).toBe(0);
    expect(readdirSync(whole).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-2']);
    expect(readdirSync(join(whole, 'checkpoint-2')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    expect(a.stderr).toMatch(/checkpoint written to .*checkpoint-2/);

    const resumed = join(tmp('out'), 'resumed');
    const b = await cliInProcess(['train', '--model', modelDir, '--data', data, '--out', resumed, '--resume', join(whole, 'checkpoint-2')]);
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/resuming after step 2/);
    expect(b.stderr).not.toMatch(/^step +[12]\//m);
    const bytes = (dir: string) => readFileSync(join(dir, 'adapter_model.safetensors'));
    expect(bytes(resumed).equals(bytes(whole))).toBe(true);
  }, 600_000);

  it('continues training a PEFT adapter (--adapter) and saves it in f16 (--dtype f16)', async () => {
    const modelDir = join(SHARED_DIR!, 'models', 'stories260K');
    const start = join(SHARED_DIR!, 'golden', 'stories260K-all-linear'); // r 4, alpha 8, all seven projections
    const data = dataFile('few.jsonl', PAIRS.slice(0, 4).map(([input, output]) => JSON.stringify({ input, output })).join('\n'));
    const out = join(tmp('out'), 'continued');
    const r = await cliInProcess(['train', '--model', modelDir, '--data', data, '--out', out, '--adapter', start, '--max-steps', '2', '--batch-size', '2', '--val-split', '0', '--lr', '1e-3', '--dtype', 'f16']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/LoRA r 4, alpha 8/);
    const header = (dir: string) => readSafetensorsHeader(folderSource(dir), 'adapter_model.safetensors');
    const [before, after] = [await header(start), await header(out)];
    expect([...after.tensors.keys()].sort()).toEqual([...before.tensors.keys()].sort());
    expect([...after.tensors.values()].every((t) => t.dtype === 'F16')).toBe(true);
    for (const [name, t] of after.tensors) expect(t.shape).toEqual(before.tensors.get(name)!.shape);
    // Training moved the weights away from the starting adapter.
    const model = await LanguageModel.load(await gpu(), folderSource(modelDir));
    const a = await importPeft(folderSource(start), model.spec);
    const b = await importPeft(folderSource(out), model.spec);
    const path = a.modules[0].path;
    expect(Array.from(b.weights.get(path)!.B)).not.toEqual(Array.from(a.weights.get(path)!.B));
    model.destroy();
  }, 300_000);
});
