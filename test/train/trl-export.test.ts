// The TRL export: train.jsonl in TRL's prompt/completion form (the plain-template text equal to
// what formatExample trains on), train.py with exactly the run's settings (read back by Python's
// own parser where python3 exists), README.md and webgpu-lora.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/tokenize/tokenizer.js';
import { DEFAULT_TRAINING_CONFIG, resolveTrainingConfig, type TrainingConfig } from '../../src/train/config.js';
import type { Example } from '../../src/train/dataset.js';
import { formatExample, type FormatTokenizer } from '../../src/train/format.js';
import { pyFloat, pyString, trlExportFiles, trlJsonl, trlRecord, trlScript } from '../../src/train/trl-export.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer, suiteTitle } from '../tokenize/fixtures.js';

const hasPython = spawnSync('python3', ['--version']).status === 0;
const withPython = (title: string) => (hasPython ? title : `${title} (skipped: python3 is not on this machine; the string checks above still ran)`);

const m = (role: ChatMessage['role'], content: string): ChatMessage => ({ role, content });
const ONE_TURN = [m('user', 'What is 2+2?'), m('assistant', '4.')];
const MULTI_TURN = [m('system', 'Be brief.'), m('user', 'Hi'), m('assistant', 'Hello.'), m('user', 'Who are you?'), m('assistant', 'A bot.')];
const examples = (...convs: ChatMessage[][]): Example[] => convs.map((messages, k) => ({ messages, line: k + 1 }));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The non-default settings of the brief: every setting the script writes differs from its default. */
const CUSTOM = resolveTrainingConfig({
  lora: { r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] },
  lrSchedule: 'cosine',
  warmupSteps: 3,
  maxSteps: null,
  valSplit: 0.2,
  trainOnInputs: true,
  gradientCheckpointing: true,
  optimizer: { maxGradNorm: null },
});

/** A tokenizer with one token per character and EOS = 0, written '</s>'; no chat template. */
const charTokenizer: FormatTokenizer = {
  encode: (t: string) => [...t].map((c) => c.codePointAt(0)!),
  applyChatTemplate: () => {
    throw new Error('no chat template');
  },
  chatTemplate: null,
  bosTokenId: null,
  eosTokenId: 0,
};
const decodeChars = (ids: number[]) => ids.map((id) => (id === 0 ? '</s>' : String.fromCodePoint(id))).join('');

describe('train.jsonl', () => {
  it('with a chat template: the messages before the last reply, and the last reply', () => {
    expect(trlRecord(ONE_TURN, true)).toEqual({ prompt: [ONE_TURN[0]], completion: [ONE_TURN[1]] });
    expect(trlRecord(MULTI_TURN, true)).toEqual({ prompt: MULTI_TURN.slice(0, 4), completion: [MULTI_TURN[4]] });
    expect(trlJsonl(examples(ONE_TURN, MULTI_TURN), true)).toBe(
      '{"prompt":[{"role":"user","content":"What is 2+2?"}],"completion":[{"role":"assistant","content":"4."}]}\n' +
        '{"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello."},' +
        '{"role":"user","content":"Who are you?"}],"completion":[{"role":"assistant","content":"A bot."}]}\n',
    );
  });

  it('without one: the plain template as text, earlier replies followed by the EOS text', () => {
    expect(trlRecord(ONE_TURN, false, '</s>')).toEqual({ prompt: '### Input:\nWhat is 2+2?\n\n### Output:\n', completion: '4.' });
    expect(trlRecord(MULTI_TURN, false, '</s>')).toEqual({
      prompt: 'Be brief.\n\n### Input:\nHi\n\n### Output:\nHello.</s>\n\n### Input:\nWho are you?\n\n### Output:\n',
      completion: 'A bot.',
    });
    // Without an EOS text, the earlier reply is followed by the blank line alone.
    expect(trlRecord(MULTI_TURN, false)).toEqual({
      prompt: 'Be brief.\n\n### Input:\nHi\n\n### Output:\nHello.\n\n### Input:\nWho are you?\n\n### Output:\n',
      completion: 'A bot.',
    });
    expect(trlJsonl(examples(ONE_TURN), false)).toBe('{"prompt":"### Input:\\nWhat is 2+2?\\n\\n### Output:\\n","completion":"4."}\n');
  });

  it('is, as text, exactly what formatExample trains on in the plain template (with the EOS TRL appends)', () => {
    const convs = [ONE_TURN, MULTI_TURN, [m('system', '규칙'), m('user', '한국어?'), m('assistant', '네.')], [...MULTI_TURN, m('user', 'Sure?'), m('assistant', 'Yes.')]];
    for (const conv of convs) {
      const r = trlRecord(conv, false, '</s>') as { prompt: string; completion: string };
      const { ids, labels } = formatExample(conv, charTokenizer, { trainOnInputs: true });
      expect(r.prompt + r.completion + '</s>').toBe(decodeChars(ids));
      // The completion and its EOS are the tokens formatExample learns last.
      expect(decodeChars(labels.slice(-([...r.completion].length + 1)))).toBe(`${r.completion}</s>`);
    }
  });

  it.skipIf(!SHARED_DIR)(suiteTitle('tokenizes to formatExample\'s ids with a real tokenizer (stories260K)'), async () => {
    const tok = await loadTokenizer('stories260K');
    for (const conv of [ONE_TURN, MULTI_TURN]) {
      const r = trlRecord(conv, false, '</s>') as { prompt: string; completion: string };
      // TRL: tokenizer(prompt + completion + eos_token) with the tokenizer's special tokens (BOS).
      expect(tok.encode(r.prompt + r.completion + '</s>')).toEqual(formatExample(conv, tok).ids);
    }
  });
});

describe('train.py', () => {
  const script = (c: TrainingConfig, baseModel = 'HuggingFaceTB/SmolLM2-135M') => trlScript(c, { baseModel, hasChatTemplate: true });

  it('writes the default settings as Python literals', () => {
    const py = script(DEFAULT_TRAINING_CONFIG);
    for (const line of [
      'BASE_MODEL = "HuggingFaceTB/SmolLM2-135M"', 'SEED = 0', 'VAL_SPLIT = 0.1',
      '    r=16,', '    lora_alpha=32,', '    lora_dropout=0.0,', '    use_rslora=False,', '    target_modules="all-linear",',
      '    bias="none",', '    task_type="CAUSAL_LM",', '    num_train_epochs=3.0,', '    max_steps=-1,  # -1: train for num_train_epochs',
      '    per_device_train_batch_size=4,', '    gradient_accumulation_steps=1,', '    learning_rate=0.0002,',
      '    lr_scheduler_type="linear",', '    warmup_steps=0,', '    weight_decay=0.0,', '    adam_beta1=0.9,', '    adam_beta2=0.999,',
      '    adam_epsilon=1e-8,', '    max_grad_norm=1.0,', '    seed=SEED,', '    max_length=512,', '    completion_only_loss=True,',
      '    eval_strategy="epoch" if eval_dataset is not None else "no",', '    bf16=use_bf16,', '    logging_steps=1,',
      '    save_strategy="no",', '    report_to="none",', 'trainer.save_model(str(HERE / "adapter"))',
    ]) expect(py.split('\n'), line).toContain(line);
    expect(py).toMatch(/trainer = SFTTrainer\(\n    model=BASE_MODEL,/);
    expect(py).not.toMatch(/eos_token=/);
    // Only a run that asks for gradient checkpointing writes it (TRL's own default applies otherwise).
    expect(py).not.toMatch(/gradient_checkpointing/);
  });

  it('writes a non-default config exactly', () => {
    const py = script(CUSTOM).split('\n');
    for (const line of [
      '    r=8,', '    lora_alpha=16,', '    target_modules=["q_proj", "v_proj"],', '    lr_scheduler_type="cosine",', '    warmup_steps=3,',
      '    max_steps=-1,  # -1: train for num_train_epochs', 'VAL_SPLIT = 0.2', '    completion_only_loss=False,',
      '    max_grad_norm=0.0,  # 0: no clipping (transformers clips only when this is > 0)',
      '    eval_strategy="epoch" if eval_dataset is not None else "no",', '    gradient_checkpointing=True,',
    ]) expect(py, line).toContain(line);
  });

  it('covers the other branches: step limit, warmup ratio, constant with warmup, eval every N steps, no validation', () => {
    const a = script(resolveTrainingConfig({ maxSteps: 50, warmupRatio: 0.1, lrSchedule: 'constant', evalEvery: 10, seed: 7 })).split('\n');
    for (const line of ['    max_steps=50,', '    warmup_ratio=0.1,', '    lr_scheduler_type="constant_with_warmup",', '    eval_steps=10,', 'SEED = 7']) expect(a, line).toContain(line);
    expect(a).toContain('    eval_strategy="steps" if eval_dataset is not None else "no",');
    const b = script(resolveTrainingConfig({ lrSchedule: 'constant', valSplit: 0 })).split('\n');
    for (const line of ['    lr_scheduler_type="constant",', '    eval_strategy="no",', 'VAL_SPLIT = 0.0']) expect(b, line).toContain(line);
  });

  it('escapes the base model and writes Python literals that read back exactly', () => {
    expect(pyString('we"ird\\path\n/모델😀')).toBe('"we\\"ird\\\\path\\n/\\ubaa8\\ub378\\U0001f600"');
    expect(['0.1', '1.0', '1e-8', '1e+21', '0.0002', '-3.0'].map(Number).map(pyFloat)).toEqual(['0.1', '1.0', '1e-8', '1e+21', '0.0002', '-3.0']);
    expect(() => pyFloat(NaN)).toThrow(/not a finite number/);
  });

  it.skipIf(!hasPython)(withPython('compiles, and Python reads back every setting and the base model'), () => {
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-trl-'));
    const baseModel = '/models/we"ird\\ path\n모델😀';
    const file = join(dir, 'train.py');
    writeFileSync(file, script(CUSTOM, baseModel));
    const compile = spawnSync('python3', ['-m', 'py_compile', file], { encoding: 'utf8' });
    expect(compile.status, compile.stderr).toBe(0);
    const read = `
import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
out = {}
for node in ast.walk(tree):
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in ("BASE_MODEL", "SEED", "VAL_SPLIT"):
        out[node.targets[0].id] = ast.literal_eval(node.value)
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("LoraConfig", "SFTConfig"):
        for k in node.keywords:
            try:
                out[k.arg] = ast.literal_eval(k.value)
            except ValueError:
                out[k.arg] = ast.unparse(k.value) if hasattr(ast, "unparse") else "<expr>"
print(json.dumps(out))`;
    const r = spawnSync('python3', ['-c', read, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      BASE_MODEL: baseModel, SEED: 0, VAL_SPLIT: 0.2,
      r: 8, lora_alpha: 16, lora_dropout: 0, use_rslora: false, target_modules: ['q_proj', 'v_proj'], bias: 'none', task_type: 'CAUSAL_LM',
      num_train_epochs: 3, max_steps: -1, per_device_train_batch_size: 4, gradient_accumulation_steps: 1, learning_rate: 2e-4,
      lr_scheduler_type: 'cosine', warmup_steps: 3, weight_decay: 0, adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8,
      max_grad_norm: 0, max_length: 512, completion_only_loss: false, gradient_checkpointing: true, fp16: false, logging_steps: 1, save_strategy: 'no', report_to: 'none',
    });
  });
});

describe('trlExportFiles', () => {
  const files = trlExportFiles(examples(ONE_TURN, MULTI_TURN), CUSTOM, { baseModel: 'my org/model', hasChatTemplate: false, eosToken: '</s>' });

  it('writes the four files', () => {
    expect(Object.keys(files).sort()).toEqual(['README.md', 'train.jsonl', 'train.py', 'webgpu-lora.json']);
    expect(text(files['train.jsonl']).split('\n')).toHaveLength(3);
    expect(text(files['train.py'])).toContain('    eos_token="</s>",');
  });

  it('describes itself in webgpu-lora.json', () => {
    const json = JSON.parse(text(files['webgpu-lora.json']));
    expect(json).toMatchObject({ baseModel: 'my org/model', eosToken: '</s>', examples: 2 });
    expect(json.config).toEqual(CUSTOM);
  });

  it('says in README.md how to install, run on one GPU or many, and bring the adapter back, with the settings', () => {
    const readme = text(files['README.md']);
    for (const s of [
      'pip install "trl>=0.24" peft accelerate datasets', 'accelerate launch train.py', 'accelerate launch --multi_gpu --num_processes <N> train.py',
      'accelerate config', "webgpu-lora generate --model 'my org/model' --adapter adapter --input \"...\"", '--adapter adapter', 'Import button',
      '| LoRA rank (--rank) | `8` | `r` |', '| modules LoRA wraps (--targets) | `["q_proj", "v_proj"]` | `target_modules` |',
      '| held out for validation (--val-split) | `0.2` | `VAL_SPLIT` |',
      '| recompute activations in backward to save memory (--gradient-checkpointing) | `True` | `gradient_checkpointing` |', '| seeds the adapter, the validation split and the order (--seed) | `0` | `seed` |',
    ]) expect(readme, s).toContain(s);
  });

  it('refuses an empty dataset', () => {
    expect(() => trlExportFiles([], CUSTOM, { baseModel: 'm', hasChatTemplate: true })).toThrow(/no examples/);
  });
});
