// The webgpu-lora command line (Node, WebGPU through Dawn).
import { parseArgs } from 'node:util';
import { describeGpu, WebGpuUnavailableError, type GpuContext } from '../gpu/device.js';
import { acquireNodeDevice } from '../gpu/node.js';
import { hasVulkanLoader, swiftShaderEnv } from '../gpu/swiftshader-env.js';
import { generateText } from '../generate/text.js';
import { LanguageModel } from '../model/model.js';
import { resolveModelSource } from './model-source.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import { spawnSync } from 'node:child_process';

const USAGE = `webgpu-lora: LoRA fine-tuning of small language models on your GPU, through WebGPU.

Usage:
  webgpu-lora generate --model <dir|url|hf-id> --prompt <text> [--max-new-tokens N]
                       [--temperature T] [--top-k K] [--top-p P] [--seed S]
      Prints the model's continuation of the prompt (greedy when temperature is 0, the default).
  webgpu-lora info
      Prints the GPU adapter, its features and limits.

--model takes a local Hugging Face model folder, a base URL of one
(e.g. https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/), or a Hugging Face id.
Without a GPU adapter the CLI re-runs itself on SwiftShader (a CPU Vulkan driver) when Debian's
chromium package is installed.`;

class UsageError extends Error {}

function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${value}'`);
  return n;
}

/**
 * The GPU; or, where there is no Vulkan loader or no adapter and chromium's SwiftShader driver is
 * installed, a re-run of this process on SwiftShader (the environment must be set at start-up).
 */
async function deviceOrRerun(): Promise<GpuContext> {
  const env = process.env.WEBGPU_LORA_SWIFTSHADER ? null : swiftShaderEnv();
  const rerun = (): never => {
    process.stderr.write('webgpu-lora: no GPU adapter found; running on SwiftShader (a CPU Vulkan driver: correct, slow)\n');
    const child = spawnSync(process.execPath, process.argv.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, ...env, WEBGPU_LORA_SWIFTSHADER: '1' },
    });
    process.exit(child.status ?? 1);
  };
  if (env && !hasVulkanLoader()) rerun();
  try {
    return await acquireNodeDevice();
  } catch (e) {
    if (e instanceof WebGpuUnavailableError && env) rerun();
    throw e;
  }
}

async function generateCommand(argv: string[]): Promise<void> {
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
    maxNewTokens: numberOption(values['max-new-tokens'], 'max-new-tokens', 128),
    temperature: numberOption(values.temperature, 'temperature', 0),
    topK: numberOption(values['top-k'], 'top-k', 0),
    topP: numberOption(values['top-p'], 'top-p', 1),
    seed: numberOption(values.seed, 'seed', 0),
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

async function infoCommand(): Promise<void> {
  const ctx = await deviceOrRerun();
  console.log(describeGpu(ctx));
  ctx.device.destroy();
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'generate':
        await generateCommand(rest);
        return 0;
      case 'info':
        await infoCommand();
        return 0;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(USAGE);
        return command === undefined ? 1 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`webgpu-lora: ${err.message}\n`);
    if (e instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`\n${USAGE}\n`);
      return 2;
    }
    return 1;
  }
}
