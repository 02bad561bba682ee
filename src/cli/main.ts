// The webgpu-lora command line (Node, WebGPU through Dawn).
import { readFileSync } from 'node:fs';
import { describeGpu } from '../gpu/device.js';
import { deviceOrRerun, HF_TOKEN_USAGE, takeHfTokenOption, UsageError } from './common.js';
import { exportGgufCommand, EXPORT_GGUF_USAGE } from './export-gguf.js';
import { exportTrlCommand, EXPORT_TRL_USAGE } from './export-trl.js';
import { generateCommand, GENERATE_USAGE } from './generate.js';
import { goldenCommand, GOLDEN_USAGE } from './golden.js';
import { mergeCommand, MERGE_USAGE } from './merge.js';
import { serveCommand, SERVE_USAGE } from './serve.js';
import { tokenizeCommand, TOKENIZE_USAGE } from './tokenize.js';
import { trainCommand, TRAIN_USAGE } from './train.js';

const USAGE = `webgpu-lora: LoRA fine-tuning of small language models on your GPU, through WebGPU.

Usage:
${TRAIN_USAGE}
${TOKENIZE_USAGE}
${EXPORT_TRL_USAGE}
${GENERATE_USAGE}
${SERVE_USAGE}
${MERGE_USAGE}
${EXPORT_GGUF_USAGE}
${GOLDEN_USAGE}
  webgpu-lora info
      Prints the GPU adapter, its features and limits.

--model takes a local Hugging Face model folder, a base URL of one
(e.g. https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main/), or a Hugging Face id.
${HF_TOKEN_USAGE}
Without a GPU adapter the CLI re-runs itself on SwiftShader (a CPU Vulkan driver) when Debian's
chromium package is installed.`;

async function infoCommand(): Promise<void> {
  const ctx = await deviceOrRerun();
  console.log(describeGpu(ctx));
  ctx.device.destroy();
}

/** Each command's usage, for `webgpu-lora <command> --help` and its usage errors. */
const COMMAND_USAGE: Record<string, string> = {
  train: TRAIN_USAGE,
  tokenize: TOKENIZE_USAGE,
  'export-trl': EXPORT_TRL_USAGE,
  generate: GENERATE_USAGE,
  serve: SERVE_USAGE,
  merge: MERGE_USAGE,
  'export-gguf': EXPORT_GGUF_USAGE,
  golden: GOLDEN_USAGE,
  info: '  webgpu-lora info\n      Prints the GPU adapter, its features and limits.',
};

/** package.json's version (two folders up from both src/cli/main.ts and the built dist/cli/main.js). */
function version(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * Runs one command; returns the process exit code: 0 done, 1 the command failed (a file that is
 * missing or wrong, a model that does not load, ...), 2 the command line itself is wrong (no or an
 * unknown command, an unknown option, a missing or malformed value), printed with the usage.
 * `--help` (or `-h`) alone or after a command prints the usage on stdout, exit 0.
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...options] = argv;
  const commandUsage = command !== undefined && Object.hasOwn(COMMAND_USAGE, command) ? COMMAND_USAGE[command] : null;
  if (commandUsage !== null && options.some((o) => o === '--help' || o === '-h')) {
    console.log(`${commandUsage}\n${HF_TOKEN_USAGE}`);
    return 0;
  }
  try {
    const rest = takeHfTokenOption(options);
    switch (command) {
      case 'train':
        return await trainCommand(rest);
      case 'tokenize':
        return await tokenizeCommand(rest);
      case 'export-trl':
        return await exportTrlCommand(rest);
      case 'generate':
        await generateCommand(rest);
        return 0;
      case 'serve':
        return await serveCommand(rest);
      case 'export-gguf':
        return await exportGgufCommand(rest);
      case 'merge':
        await mergeCommand(rest);
        return 0;
      case 'golden':
        return await goldenCommand(rest);
      case 'info':
        if (rest.length) throw new UsageError(`info takes no options, got '${rest[0]}'`);
        await infoCommand();
        return 0;
      case '--help':
      case '-h':
      case 'help':
        console.log(USAGE);
        return 0;
      case '--version':
      case '-V':
      case 'version':
        console.log(version());
        return 0;
      case undefined:
        throw new UsageError('no command given');
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`webgpu-lora: ${err.message}\n`);
    if (e instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // A known command's own usage; the whole list for no command or an unknown one.
      process.stderr.write(commandUsage !== null ? `\nUsage:\n${commandUsage}\n\nwebgpu-lora --help lists every command.\n` : `\n${USAGE}\n`);
      return 2;
    }
    return 1;
  }
}
