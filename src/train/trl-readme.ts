// README.md of a TRL export folder (see ./trl-export.ts): what the folder is, how to run it on
// one GPU, several, or several machines, how the adapter comes back to webgpu-lora, and the
// settings in a table.
import type { TrainingConfig } from './config.js';
import type { TrlExportOptions, TrlSetting } from './trl-export.js';

/** The oldest TRL that renders a conversational prompt with the generation prompt, as webgpu-lora does. */
export const TRL_REQUIREMENT = 'trl>=0.24';

/** s quoted for a POSIX shell where it needs quoting. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A Markdown table cell: inline code, with the pipe escaped. */
const cell = (s: string) => `\`${s.replace(/\|/g, '\\|')}\``;

export function trlReadme(count: number, config: TrainingConfig, opts: TrlExportOptions, settings: TrlSetting[]): string {
  const model = shellWord(opts.baseModel);
  const rows = [
    `| base model | ${cell(opts.baseModel)} | \`BASE_MODEL\` |`,
    `| held out for validation (--val-split) | ${cell(String(config.valSplit))} | \`VAL_SPLIT\` |`,
    ...settings.map((s) => `| ${s.what} | ${cell(s.shown ?? s.value)} | \`${s.name}\` |`),
    ...(opts.eosToken === undefined ? [] : [`| end of each reply | ${cell(JSON.stringify(opts.eosToken))} | \`eos_token\` |`]),
  ];
  const data = opts.hasChatTemplate
    ? 'conversations, rendered by the model\'s chat template ({"prompt": [messages], "completion": [the last reply]})'
    : 'plain text in webgpu-lora\'s template for models without a chat template ("### Input:" / "### Output:" blocks)';
  return `# Fine-tune ${opts.baseModel} with TRL

This folder was written by \`webgpu-lora export-trl\`. It trains the same LoRA adapter as
\`webgpu-lora train\` would, with the same data and settings, but with Hugging Face
[TRL](https://huggingface.co/docs/trl)'s \`SFTTrainer\` on CUDA GPUs: one, several, or several
machines.

- \`train.jsonl\`: ${count} training example${count === 1 ? '' : 's'} in TRL's prompt/completion form: ${data}.
  ${config.trainOnInputs ? 'Prompts and completions are both learned (--train-on-inputs).' : 'Only the completion (the last reply) is learned.'}
- \`train.py\`: the training script (\`SFTTrainer\` with a PEFT \`LoraConfig\`).
- \`webgpu-lora.json\`: the webgpu-lora settings and the base model this folder was made from.

## Set up

Python 3.10 or later and PyTorch with CUDA, then:

\`\`\`sh
pip install "${TRL_REQUIREMENT}" peft accelerate datasets
\`\`\`

## Run

On one GPU:

\`\`\`sh
accelerate launch train.py    # or: python train.py
\`\`\`

On several GPUs of one machine (N of them):

\`\`\`sh
accelerate launch --multi_gpu --num_processes <N> train.py
\`\`\`

Each GPU takes its own micro-batches, so an optimizer step sees N × ${config.batchSize} × ${config.gradientAccumulationSteps} examples
instead of webgpu-lora's ${config.batchSize} × ${config.gradientAccumulationSteps}; to keep that, divide
\`per_device_train_batch_size\` or \`gradient_accumulation_steps\` in train.py by N.

On several machines: run \`accelerate config\` on each (number of machines, this machine's rank,
the main machine's address and port), then \`accelerate launch train.py\` on each.

The model is loaded from \`BASE_MODEL\` in train.py: a Hugging Face id is downloaded, a path must
exist on the training machine. bf16 mixed precision is used where the GPU supports it.

## Bring the adapter back

train.py saves the adapter to \`./adapter\` (\`adapter_config.json\` and
\`adapter_model.safetensors\`, PEFT's format). webgpu-lora imports it:

- in the demo, with the Import button;
- from the command line, to generate with it:

  \`\`\`sh
  webgpu-lora generate --model ${model} --adapter adapter --input "..."
  \`\`\`

- or to continue training it:

  \`\`\`sh
  webgpu-lora train --model ${model} --data <file> --out <dir> --adapter adapter
  \`\`\`

## Settings

| Setting | Value | In train.py |
| --- | --- | --- |
${rows.join('\n')}

## How this differs from webgpu-lora

- The validation set has the same size, but TRL picks other examples for it.
- In a conversation with several replies, webgpu-lora learns every reply; TRL learns the last one
  and reads the earlier ones as part of the prompt.
- With a chat template, webgpu-lora appends EOS to a reply whose turn does not end with it; TRL
  leaves the template's turn as it is.
- webgpu-lora trains in fp32; train.py uses bf16 mixed precision where it can, so losses differ
  in their last digits.
`;
}
