// webgpu-lora generate: the model's continuation of a prompt (or its answer to an input, formatted
// as training formats it), streamed to stdout, with or without a LoRA adapter.
import { parseArgs } from 'node:util';
import { generateTextFromIds } from '../generate/text.js';
import { GpuLora } from '../lora/gpu-lora.js';
import { LanguageModel } from '../model/model.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import { formatPrompt } from '../train/format.js';
import { readAdapter } from './adapter-source.js';
import { deviceOrRerun, integerOption, numberOption, UsageError, weightsOption } from './common.js';
import { resolveModelSource } from './model-source.js';

export const GENERATE_USAGE = `  webgpu-lora generate --model <dir|url|hf-id> (--prompt <text> | --input <text>) [--adapter <dir>]
                       [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
                       [--weights f32|f16|nf4|q8]
      Prints the model's continuation of the prompt (greedy when temperature is 0, the default).
      --input formats the text as a training input (the chat template, or the plain
      "### Input: ... ### Output:" template) and prints only the answer, up to EOS.
      --adapter applies a PEFT LoRA adapter folder on top of the model. --weights f16 stores the
      model's frozen matrices as f16 on the GPU (half their memory; compute stays f32); nf4|q8
      quantizes the layers' projections (NF4 or Q8_0) and keeps the embedding and head f16.`;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      input: { type: 'string' },
      adapter: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      weights: { type: 'string' },
    },
  });
  if (!values.model) throw new UsageError('generate needs --model <dir|url|hf-id>');
  if (values.prompt !== undefined && values.input !== undefined) throw new UsageError('generate takes --prompt or --input, not both');
  if (values.prompt === undefined && values.input === undefined) throw new UsageError('generate needs --prompt <text> or --input <text>');
  const opts = {
    maxNewTokens: integerOption(values['max-new-tokens'], 'max-new-tokens', 128),
    temperature: numberOption(values.temperature, 'temperature', 0),
    topK: integerOption(values['top-k'], 'top-k', 0),
    topP: numberOption(values['top-p'], 'top-p', 1),
    seed: integerOption(values.seed, 'seed', 0),
  };
  const weightStorage = weightsOption(values.weights);
  const ctx = await deviceOrRerun();
  const source = resolveModelSource(values.model);
  const tokenizer = await TextTokenizer.load(source);
  const model = await LanguageModel.load(ctx, source, undefined, { weightStorage });
  const lora = values.adapter !== undefined ? GpuLora.create(ctx, await readAdapter(values.adapter, model.spec, source)) : undefined;

  let promptIds: number[];
  let eosTokenIds = model.eosTokenIds;
  if (values.input !== undefined) {
    promptIds = formatPrompt(values.input, tokenizer);
    // Training ends every answer with the tokenizer's EOS: stop there too.
    if (tokenizer.eosTokenId !== null) eosTokenIds = [...new Set([...eosTokenIds, tokenizer.eosTokenId])];
  } else {
    promptIds = tokenizer.encode(values.prompt!);
  }
  const result = await generateTextFromIds(model, tokenizer, promptIds, { ...opts, eosTokenIds, lora, onText: (t) => process.stdout.write(t) });
  process.stdout.write('\n');
  // A non-empty reasoning block (Qwen3's <think>…</think>) is not part of the answer on stdout.
  if (result.reasoning) process.stderr.write(`reasoning:\n${result.reasoning}\n`);
  lora?.destroy();
  model.destroy();
  ctx.device.destroy();
}
