// webgpu-lora merge: a LoRA adapter merged into its base model (W' = W + s·B·A, PEFT's
// merge_and_unload), written as a complete Hugging Face model folder that needs no PEFT.
// Runs on the CPU: no GPU is needed.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFolderAtomic } from '../io/atomic-node.js';
import { MERGE_BASES, MERGE_DTYPES, mergedModelFiles } from '../lora/merge.js';
import { loadModelSpec } from '../model/config.js';
import { folderSource } from '../model/source-node.js';
import { readAdapter } from './adapter-source.js';
import { UsageError } from './common.js';
import { resolveModelSource } from './model-source.js';
import { prepareOutFolder } from './out-folder.js';

export const MERGE_USAGE = `  webgpu-lora merge --model <dir|url|hf-id> --adapter <dir> --out <dir> [--weights f32|nf4|q8]
                    [--dtype f32|f16|bf16]
      Writes the model with the PEFT adapter merged into its weights to the folder --out
      (model.safetensors, config and tokenizer files copied), for any tool that loads Hugging
      Face models. --weights nf4|q8 says the adapter was trained with that --weights: each
      projection it quantizes is merged as dequantized, dequant(quant(W)) + s·B·A, the weights
      the adapter was trained on. --dtype is model.safetensors' dtype (default f32; f16 and bf16
      round to nearest even), also written as config.json's torch_dtype.`;

/** The value of a merge option that takes one of `allowed`; a usage error naming the option and them otherwise. */
function choiceOption<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T {
  const v = (value ?? allowed[0]).toLowerCase();
  if (!allowed.includes(v as T)) throw new UsageError(`--${name} must be ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}, got '${value}'`);
  return v as T;
}

export async function mergeCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, weights: { type: 'string' }, dtype: { type: 'string' } },
  });
  if (!values.model) throw new UsageError('merge needs --model <dir|url|hf-id>');
  if (!values.adapter) throw new UsageError('merge needs --adapter <dir>');
  if (!values.out) throw new UsageError('merge needs --out <dir>');
  const weights = choiceOption(values.weights, 'weights', MERGE_BASES);
  const dtype = choiceOption(values.dtype, 'dtype', MERGE_DTYPES);
  const source = resolveModelSource(values.model);
  const out = resolve(values.out);
  for (const [what, dir] of [['--model', source.description], ['--adapter', folderSource(values.adapter).description]]) {
    if (out === dir) throw new UsageError(`merge: --out must be a new folder, not the ${what} folder ${dir}`);
  }
  await prepareOutFolder(out); // writable, before the merge's work
  const { spec } = await loadModelSpec(source);
  const adapter = await readAdapter(values.adapter, spec, source);
  const files = await mergedModelFiles(source, spec, adapter, { weights, dtype });
  await writeFolderAtomic(out, files);
  const base = weights === 'f32' ? '' : ` (dequantized from ${weights})`;
  console.log(`merged ${adapter.modules.length} LoRA modules (r ${adapter.config.r}) into ${source.description}${base}; wrote ${out} (${dtype}):`);
  for (const [name, bytes] of Object.entries(files)) console.log(`  ${name} (${formatBytes(bytes.length)})`);
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
