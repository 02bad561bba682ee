// webgpu-lora generate: the model's continuation of a prompt, streamed to stdout.
import { parseArgs } from 'node:util';
import { generateText } from '../generate/text.js';
import { LanguageModel } from '../model/model.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import { deviceOrRerun, integerOption, numberOption, UsageError } from './common.js';
import { resolveModelSource } from './model-source.js';

export const GENERATE_USAGE = `  webgpu-lora generate --model <dir|url|hf-id> --prompt <text> [--max-new-tokens N]
                       [--temperature T] [--top-k K] [--top-p P] [--seed S]
      Prints the model's continuation of the prompt (greedy when temperature is 0, the default).`;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (!values.model) throw new UsageError('generate needs --model <dir|url|hf-id>');
  if (values.prompt === undefined) throw new UsageError('generate needs --prompt <text>');
  const opts = {
    maxNewTokens: integerOption(values['max-new-tokens'], 'max-new-tokens', 128),
    temperature: numberOption(values.temperature, 'temperature', 0),
    topK: integerOption(values['top-k'], 'top-k', 0),
    topP: numberOption(values['top-p'], 'top-p', 1),
    seed: integerOption(values.seed, 'seed', 0),
  };
  const ctx = await deviceOrRerun();
  const source = resolveModelSource(values.model);
  const tokenizer = await TextTokenizer.load(source);
  const model = await LanguageModel.load(ctx, source);
  await generateText(model, tokenizer, values.prompt, { ...opts, onText: (t) => process.stdout.write(t) });
  process.stdout.write('\n');
  model.destroy();
  ctx.device.destroy();
}
