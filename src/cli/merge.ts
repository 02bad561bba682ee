// webgpu-lora merge: a LoRA adapter merged into its base model (W' = W + s·B·A, PEFT's
// merge_and_unload), written as a complete Hugging Face model folder that needs no PEFT.
// Runs on the CPU: no GPU is needed.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFolderAtomic } from '../io/atomic-node.js';
import { mergedModelFiles } from '../lora/merge.js';
import { loadModelSpec } from '../model/config.js';
import { folderSource } from '../model/source-node.js';
import { readAdapter } from './adapter-source.js';
import { UsageError } from './common.js';
import { resolveModelSource } from './model-source.js';

export const MERGE_USAGE = `  webgpu-lora merge --model <dir|url|hf-id> --adapter <dir> --out <dir>
      Writes the model with the PEFT adapter merged into its weights to the folder --out
      (model.safetensors in float32, config and tokenizer files copied), for any tool that
      loads Hugging Face models.`;

export async function mergeCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' } },
  });
  if (!values.model) throw new UsageError('merge needs --model <dir|url|hf-id>');
  if (!values.adapter) throw new UsageError('merge needs --adapter <dir>');
  if (!values.out) throw new UsageError('merge needs --out <dir>');
  const source = resolveModelSource(values.model);
  const out = resolve(values.out);
  for (const [what, dir] of [['--model', source.description], ['--adapter', folderSource(values.adapter).description]]) {
    if (out === dir) throw new UsageError(`merge: --out must be a new folder, not the ${what} folder ${dir}`);
  }
  const { spec } = await loadModelSpec(source);
  const adapter = await readAdapter(values.adapter, spec, source);
  const files = await mergedModelFiles(source, spec, adapter);
  await writeFolderAtomic(out, files);
  console.log(`merged ${adapter.modules.length} LoRA modules (r ${adapter.config.r}) into ${source.description}; wrote ${out}:`);
  for (const [name, bytes] of Object.entries(files)) console.log(`  ${name} (${formatBytes(bytes.length)})`);
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
