// The webgpu-lora command line (Node, WebGPU through Dawn).
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

/** Runs one command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...options] = argv;
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
