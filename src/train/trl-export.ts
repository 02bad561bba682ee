// "Train this on a GPU server": the examples and settings of a webgpu-lora run as a folder that
// Hugging Face TRL trains with on any machine with CUDA GPUs, one or many:
//   train.jsonl       the examples in TRL's prompt/completion form, one JSON object per line;
//   train.py          TRL's SFTTrainer with a PEFT LoraConfig, the same settings as the run;
//   README.md         how to run it, and the settings in a table;
//   webgpu-lora.json  the TrainingConfig and the base model, so the folder describes itself.
// train.py saves a PEFT adapter folder, which webgpu-lora imports like any other.
import type { ChatMessage } from '../tokenize/tokenizer.js';
import type { TrainingConfig } from './config.js';
import type { Example } from './dataset.js';
import { plainPrompt } from './format.js';
import { trlReadme } from './trl-readme.js';

export interface TrlExportOptions {
  /** What train.py loads: a Hugging Face id, or a model folder's path on the training machine. */
  baseModel: string;
  /** Whether the tokenizer has a chat template: conversational records if so, plain text if not. */
  hasChatTemplate: boolean;
  /** The tokenizer's EOS token as text (e.g. '</s>'); written into the data and train.py when given. */
  eosToken?: string;
}

/** One TRL prompt/completion record: lists of messages (conversational) or text (plain). */
export type TrlRecord = { prompt: ChatMessage[]; completion: ChatMessage[] } | { prompt: string; completion: string };

/**
 * A conversation ([system?] user, assistant, (user, assistant)*) as the record TRL's SFTTrainer
 * trains on the way this project does: the completion is the last reply, the prompt everything
 * before it, and with completion_only_loss only the completion is learned.
 *
 * With a chat template, the record is conversational and TRL renders it with the model's template
 * (prompt with the generation prompt, as this project does). Earlier replies of a multi-turn
 * conversation are part of the prompt there, so unlike here they are context, not learned.
 *
 * Without one, the prompt is this project's plain template written out as text (see
 * ./format.ts): "{system}\n\n" when there is a system message, then "### Input:\n{user}\n\n
 * ### Output:\n" blocks, each earlier reply followed by EOS and a blank line before the next
 * block. That EOS is a token here; as text it is eosToken, which Hugging Face tokenizers read back
 * as the EOS token (TRL ends a plain completion the same way: completion + eos_token). Without an
 * eosToken the earlier replies are followed by the blank line alone. TRL appends the final EOS
 * to the completion itself.
 */
export function trlRecord(messages: ChatMessage[], hasChatTemplate: boolean, eosToken?: string): TrlRecord {
  const last = messages.length - 1;
  if (last < 1 || messages[last].role !== 'assistant') throw new Error('trlRecord: a conversation must end with an assistant message');
  if (hasChatTemplate) {
    const copy = (m: ChatMessage): ChatMessage => ({ role: m.role, content: m.content });
    return { prompt: messages.slice(0, last).map(copy), completion: [copy(messages[last])] };
  }
  const system = messages[0].role === 'system' ? messages[0].content : undefined;
  let prompt = '';
  let user = '';
  for (const m of messages.slice(0, last)) {
    if (m.role === 'user') user = m.content;
    if (m.role !== 'assistant') continue;
    prompt += `${prompt === '' ? plainPrompt(user, system) : `\n\n${plainPrompt(user)}`}${m.content}${eosToken ?? ''}`;
  }
  prompt += prompt === '' ? plainPrompt(user, system) : `\n\n${plainPrompt(user)}`;
  return { prompt, completion: messages[last].content };
}

/** train.jsonl: one record per example, in file order, each line ending in '\n'. */
export function trlJsonl(examples: Example[], hasChatTemplate: boolean, eosToken?: string): string {
  return examples.map((e) => `${JSON.stringify(trlRecord(e.messages, hasChatTemplate, eosToken))}\n`).join('');
}

/** A Python string literal of s: JSON's escapes (all valid in Python) and only ASCII characters. */
export function pyString(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/gu, (ch) => {
    const cp = ch.codePointAt(0)!;
    return cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}

/** A Python float literal that reads back as exactly x (JavaScript's shortest round-trip digits). */
export function pyFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`pyFloat: ${x} is not a finite number`);
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** A Python literal of a setting's value: an int, a float, True/False/None, a string or a list of them. */
type PyValue = number | boolean | null | string | string[];
function py(v: PyValue, float = false): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return pyString(v);
  if (Array.isArray(v)) return `[${v.map(pyString).join(', ')}]`;
  return float || !Number.isInteger(v) ? pyFloat(v) : String(v);
}

/** One line of a Python call's keyword arguments, and how the README describes it. */
export interface TrlSetting {
  /** The keyword argument of LoraConfig or SFTConfig. */
  name: string;
  /** Its value as Python source. */
  value: string;
  /** What it is, in webgpu-lora's terms (the README's table). */
  what: string;
  /** A comment after the argument in train.py, if any. */
  note?: string;
  /** The value the README shows, where `value` is an expression (default: value). */
  shown?: string;
}

/** LoraConfig's arguments: the adapter webgpu-lora would train. */
export function loraSettings(c: TrainingConfig): TrlSetting[] {
  const l = c.lora;
  return [
    { name: 'r', value: py(l.r), what: 'LoRA rank (--rank)' },
    { name: 'lora_alpha', value: py(l.alpha), what: 'LoRA alpha (--alpha); scale alpha/r, or alpha/√r with rsLoRA' },
    { name: 'lora_dropout', value: py(l.dropout, true), what: 'dropout on the LoRA input (--dropout)' },
    { name: 'use_rslora', value: py(l.useRslora), what: 'rsLoRA scaling (--rslora)' },
    { name: 'target_modules', value: py(l.targetModules), what: 'modules LoRA wraps (--targets)' },
    { name: 'bias', value: py('none'), what: 'biases stay frozen' },
    { name: 'task_type', value: py('CAUSAL_LM'), what: 'a causal language model' },
  ];
}

/**
 * SFTConfig's training arguments (those that depend on the data, output folder and precision
 * are written in train.py itself). transformers' schedules are the ones ./schedule.ts computes;
 * its 'constant' schedule has no warmup, so constant with warmup is 'constant_with_warmup'.
 */
export function sftSettings(c: TrainingConfig): TrlSetting[] {
  const o = c.optimizer;
  const warmup = c.warmupSteps > 0 || c.warmupRatio > 0;
  const schedule = c.lrSchedule === 'constant' && warmup ? 'constant_with_warmup' : c.lrSchedule;
  const s: TrlSetting[] = [
    { name: 'num_train_epochs', value: py(c.epochs, true), what: 'passes over the training examples (--epochs)' },
    c.maxSteps === null
      ? { name: 'max_steps', value: '-1', what: 'no step limit (--max-steps)', note: '-1: train for num_train_epochs' }
      : { name: 'max_steps', value: py(c.maxSteps), what: 'stop after this many optimizer steps (--max-steps)' },
    { name: 'per_device_train_batch_size', value: py(c.batchSize), what: 'examples per micro-batch, per GPU (--batch-size)' },
    { name: 'per_device_eval_batch_size', value: py(c.batchSize), what: 'examples per validation batch, per GPU' },
    { name: 'gradient_accumulation_steps', value: py(c.gradientAccumulationSteps), what: 'micro-batches per optimizer step (--grad-accum)' },
    { name: 'learning_rate', value: py(c.learningRate, true), what: 'peak learning rate (--lr)' },
    { name: 'lr_scheduler_type', value: py(schedule), what: 'learning-rate schedule after warmup (--schedule)' },
    c.warmupRatio > 0
      ? { name: 'warmup_ratio', value: py(c.warmupRatio, true), what: 'warmup as a fraction of all steps' }
      : { name: 'warmup_steps', value: py(c.warmupSteps), what: 'steps of linear warmup (--warmup)' },
    { name: 'weight_decay', value: py(o.weightDecay, true), what: 'AdamW weight decay' },
    { name: 'adam_beta1', value: py(o.beta1, true), what: 'AdamW beta1' },
    { name: 'adam_beta2', value: py(o.beta2, true), what: 'AdamW beta2' },
    { name: 'adam_epsilon', value: py(o.eps, true), what: 'AdamW epsilon' },
    o.maxGradNorm === null
      ? { name: 'max_grad_norm', value: '0.0', what: 'no gradient clipping', note: '0: no clipping (transformers clips only when this is > 0)' }
      : { name: 'max_grad_norm', value: py(o.maxGradNorm, true), what: 'clip the global gradient norm to this' },
    { name: 'seed', value: 'SEED', shown: py(c.seed), what: 'seeds the adapter, the validation split and the order (--seed)' },
    { name: 'max_length', value: py(c.maxLength), what: 'tokens per example; longer ones are cut at the end (--max-length)' },
    { name: 'completion_only_loss', value: py(!c.trainOnInputs), what: c.trainOnInputs ? 'learn the prompts too (--train-on-inputs)' : 'learn only the replies' },
  ];
  // TRL's SFTConfig checkpoints by default in recent versions; a run that asked for it says so.
  if (c.gradientCheckpointing) s.push({ name: 'gradient_checkpointing', value: py(true), what: 'recompute activations in backward to save memory (--gradient-checkpointing)' });
  if (c.valSplit > 0) {
    s.push(
      c.evalEvery === null
        ? { name: 'eval_strategy', value: '"epoch" if eval_dataset is not None else "no"', shown: '"epoch"', what: 'validation loss at the end of each epoch' }
        : { name: 'eval_strategy', value: '"steps" if eval_dataset is not None else "no"', shown: '"steps"', what: 'validation loss every eval_steps steps' },
    );
    if (c.evalEvery !== null) s.push({ name: 'eval_steps', value: py(c.evalEvery), what: 'steps between validations (--eval-every)' });
  } else {
    s.push({ name: 'eval_strategy', value: py('no'), what: 'no validation set (--val-split 0)' });
  }
  return s;
}

/** The keyword arguments of a call, one per line, indented, each with its comment. */
const kwargs = (settings: TrlSetting[]) => settings.map((s) => `    ${s.name}=${s.value},${s.note ? `  # ${s.note}` : ''}`).join('\n');

/** train.py: valid Python that trains the adapter with TRL and saves it to ./adapter. */
export function trlScript(config: TrainingConfig, opts: TrlExportOptions): string {
  const eosNote = opts.hasChatTemplate ? "the tokenizer's EOS, as in webgpu-lora" : 'appended to each completion, as EOS ends each reply in webgpu-lora';
  const eos = opts.eosToken === undefined ? '' : `    eos_token=${pyString(opts.eosToken)},  # ${eosNote}\n`;
  return `"""Fine-tunes a LoRA adapter with TRL's SFTTrainer, with the settings of a webgpu-lora run.

Written by webgpu-lora export-trl (see README.md). One GPU: \`accelerate launch train.py\`;
several: \`accelerate launch --multi_gpu --num_processes <N> train.py\`. The adapter is saved
to ./adapter as a PEFT folder, which webgpu-lora imports.
"""
import math
from pathlib import Path

import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import set_seed
from trl import SFTConfig, SFTTrainer

HERE = Path(__file__).resolve().parent
# A Hugging Face id, or the path of a model folder on this machine.
BASE_MODEL = ${pyString(opts.baseModel)}
SEED = ${py(config.seed)}
# The fraction of the examples held out for validation (0 = none).
VAL_SPLIT = ${py(config.valSplit, true)}

# Seeds the LoRA initialization too (the model and its adapter are made before the Trainer seeds).
set_seed(SEED)

dataset = load_dataset("json", data_files=str(HERE / "train.jsonl"), split="train")
eval_dataset = None
if VAL_SPLIT > 0 and len(dataset) >= 2:
    # As many as webgpu-lora holds out: ceil(fraction * n), at least one and never all
    # (a different random choice of examples, though).
    n_val = min(len(dataset) - 1, max(1, math.ceil(VAL_SPLIT * len(dataset))))
    split = dataset.train_test_split(test_size=n_val, seed=SEED)
    dataset, eval_dataset = split["train"], split["test"]

peft_config = LoraConfig(
${kwargs(loraSettings(config))}
)

# bf16 mixed precision where the GPU has it (Ampere and later), else full fp32.
use_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()

args = SFTConfig(
    output_dir=str(HERE / "output"),
${kwargs(sftSettings(config))}
${eos}    bf16=use_bf16,
    fp16=False,
    logging_steps=1,
    save_strategy="no",
    report_to="none",
)

trainer = SFTTrainer(
    model=BASE_MODEL,
    args=args,
    train_dataset=dataset,
    eval_dataset=eval_dataset,
    peft_config=peft_config,
)
trainer.train()
# adapter_config.json + adapter_model.safetensors (PEFT's format), written by the main process.
trainer.save_model(str(HERE / "adapter"))
if trainer.accelerator.is_main_process:
    print(f"adapter written to {HERE / 'adapter'}")
`;
}

/** The folder's files (name → bytes): train.jsonl, train.py, README.md and webgpu-lora.json. */
export function trlExportFiles(examples: Example[], config: TrainingConfig, opts: TrlExportOptions): Record<string, Uint8Array> {
  if (examples.length === 0) throw new Error('trlExportFiles: there are no examples to export');
  const utf8 = new TextEncoder();
  const description = {
    exportedBy: 'webgpu-lora export-trl',
    baseModel: opts.baseModel,
    dataFormat: opts.hasChatTemplate ? 'conversational prompt/completion (chat template)' : 'plain-text prompt/completion (### Input / ### Output)',
    eosToken: opts.eosToken ?? null,
    examples: examples.length,
    config,
  };
  return {
    'train.jsonl': utf8.encode(trlJsonl(examples, opts.hasChatTemplate, opts.eosToken)),
    'train.py': utf8.encode(trlScript(config, opts)),
    'README.md': utf8.encode(trlReadme(examples.length, config, opts, [...loraSettings(config), ...sftSettings(config)])),
    'webgpu-lora.json': utf8.encode(`${JSON.stringify(description, null, 2)}\n`),
  };
}
