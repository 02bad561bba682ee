// webgpu-lora export-trl, as a user runs it: the data file and the options are checked as train
// checks them, before the model is looked at; on stories260K (no chat template) and on a copy of
// its tokenizer with a chat template, the folder holds the data in TRL's form and the settings.
// The plain-template export runs the binary (bin/webgpu-lora.js); the other cases main() in this process.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli, cliInProcess } from './run-cli.js';

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `webgpu-lora-${prefix}-`));

function dataFile(name: string, text: string): string {
  const file = join(tmp('data'), name);
  writeFileSync(file, text);
  return file;
}

const DATA = [
  '{"input": "What color is the sky?", "output": "The sky is blue."}',
  '{"messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Who is Tom?"}, {"role": "assistant", "content": "A boy."}]}',
].join('\n');

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
const jsonl = (dir: string) => read(dir, 'train.jsonl').trimEnd().split('\n').map((l) => JSON.parse(l));

describe('webgpu-lora export-trl: checks before anything is loaded or written', () => {
  it('names every bad line of the data file, exits 1 and writes nothing', async () => {
    const data = dataFile('bad.jsonl', '{"input": "Hi", "output": "Hello."}\n{"input": "What is red?"}\n');
    const out = join(tmp('out'), 'trl');
    const r = await cliInProcess(['export-trl', '--model', './no/such/model', '--data', data, '--out', out]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^bad\.jsonl:2: missing "output"/m);
    expect(r.stderr).toMatch(/has 1 problem; fix it and run again \(nothing was written\)/);
    expect(r.stderr).not.toMatch(/no\/such\/model/);
    expect(existsSync(out)).toBe(false);
  });

  it("rejects train's bad options, --adapter, a missing --out and an --out that is a file", async () => {
    const data = dataFile('ok.jsonl', '{"input": "Hi", "output": "Hello."}\n');
    const cases: Array<[string[], RegExp, number]> = [
      [['--out', join(tmp('out'), 'a'), '--lr', 'fast'], /--lr must be a number, got 'fast'/, 2],
      [['--out', join(tmp('out'), 'a'), '--val-split', '1.5'], /--val-split: must be in \[0, 1\)/, 2],
      [['--out', join(tmp('out'), 'a'), '--adapter', 'x'], /Unknown option '--adapter'/, 2],
      [[], /export-trl needs --out/, 2],
      [['--out', data], /--out '.*ok\.jsonl' is a file; give a folder for the export/, 1],
    ];
    for (const [extra, message, status] of cases) {
      const r = await cliInProcess(['export-trl', '--model', 'm', '--data', data, ...extra]);
      expect(r.status, `${extra.join(' ')}: ${r.stderr}`).toBe(status);
      expect(r.stderr).toMatch(message);
    }
  });

  it('is in the help', async () => {
    const r = await cliInProcess(['--help']);
    expect(r.stdout).toMatch(/webgpu-lora export-trl --model <dir\|url\|hf-id> --data <file\.jsonl\|file\.csv> --out <dir>/);
  });
});

describe.skipIf(!SHARED_DIR)(`webgpu-lora export-trl on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const model = join(SHARED_DIR ?? '', 'models', 'stories260K');

  it('writes the plain-template data and the settings of the options, without a GPU', () => {
    const out = join(tmp('out'), 'trl');
    const args = ['--rank', '8', '--alpha', '16', '--targets', 'q_proj,v_proj', '--schedule', 'cosine', '--warmup', '3', '--val-split', '0.2', '--train-on-inputs'];
    const r = cli(['export-trl', '--model', model, '--data', dataFile('data.jsonl', DATA), '--out', out, ...args]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 examples \(plain text in the ### Input \/ ### Output template\) and the settings written to/);
    expect(r.stdout).toMatch(/train\.py loads the model from .*stories260K/);
    expect(r.stderr).not.toMatch(/SwiftShader/);
    expect(readdirSync(out).sort()).toEqual(['README.md', 'train.jsonl', 'train.py', 'webgpu-lora.json']);
    expect(jsonl(out)).toEqual([
      { prompt: '### Input:\nWhat color is the sky?\n\n### Output:\n', completion: 'The sky is blue.' },
      { prompt: 'Answer briefly.\n\n### Input:\nHi\n\n### Output:\nHello.</s>\n\n### Input:\nWho is Tom?\n\n### Output:\n', completion: 'A boy.' },
    ]);
    const py = read(out, 'train.py').split('\n');
    for (const line of [
      `BASE_MODEL = ${JSON.stringify(resolve(model))}`, '    r=8,', '    lora_alpha=16,', '    target_modules=["q_proj", "v_proj"],',
      '    lr_scheduler_type="cosine",', '    warmup_steps=3,', 'VAL_SPLIT = 0.2', '    completion_only_loss=False,', '    eos_token="</s>",  # appended to each completion, as EOS ends each reply in webgpu-lora',
    ]) expect(py, line).toContain(line);
    const described = JSON.parse(read(out, 'webgpu-lora.json'));
    expect(described).toMatchObject({ baseModel: resolve(model), eosToken: '</s>', examples: 2 });
    expect(described.config).toMatchObject({ valSplit: 0.2, trainOnInputs: true, lrSchedule: 'cosine', lora: { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] } });
  });

  it('writes conversational records for a tokenizer with a chat template', async () => {
    const dir = tmp('chat-model');
    for (const f of ['tokenizer.json', 'special_tokens_map.json']) writeFileSync(join(dir, f), read(model, f));
    const config = JSON.parse(read(model, 'tokenizer_config.json'));
    const template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: template }));
    const out = join(tmp('out'), 'trl');
    const r = await cliInProcess(['export-trl', '--model', dir, '--data', dataFile('data.jsonl', DATA), '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/conversations in the model's chat template/);
    const [one, two] = jsonl(out);
    expect(one).toEqual({ prompt: [{ role: 'user', content: 'What color is the sky?' }], completion: [{ role: 'assistant', content: 'The sky is blue.' }] });
    expect(two.prompt.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(two.completion).toEqual([{ role: 'assistant', content: 'A boy.' }]);
    expect(read(out, 'train.py').split('\n')).toContain('    completion_only_loss=True,');
  });
});
