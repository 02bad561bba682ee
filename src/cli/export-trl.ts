// webgpu-lora export-trl: the data and settings of a `train` run as a folder that Hugging Face TRL
// trains on a GPU server (see ../train/trl-export.ts). It takes train's options and checks them
// and the data file the same way, before anything is loaded or written; of the model it reads only
// the tokenizer (whether it has a chat template, and its EOS token), so no GPU is needed.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFolderAtomic } from '../io/atomic-node.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import { resolveTrainingConfig } from '../train/config.js';
import { trlExportFiles } from '../train/trl-export.js';
import { UsageError } from './common.js';
import { resolveModelSource } from './model-source.js';
import { configFromOptions, parseOptions, readExamples, SETTINGS } from './train.js';

export const EXPORT_TRL_USAGE = `  webgpu-lora export-trl --model <dir|url|hf-id> --data <file.jsonl|file.csv> --out <dir>
                    [the training options of train, but not --adapter]
      Writes a folder that trains the same LoRA adapter with Hugging Face TRL on CUDA GPUs, one
      or many: train.jsonl (the data in TRL's prompt/completion form), train.py (SFTTrainer and
      PEFT with the same settings), README.md and webgpu-lora.json. train.py saves the adapter
      to ./adapter, which generate --adapter and train --adapter read. Needs no GPU here.`;

/** The options: train's settings (a PEFT adapter to continue is not one TRL takes here) and the paths. */
const OPTIONS = [...SETTINGS.filter((k) => k !== 'adapter'), 'model', 'data', 'out'];

export async function exportTrlCommand(argv: string[]): Promise<number> {
  const v = parseOptions(argv, OPTIONS);
  for (const k of ['model', 'data', 'out'] as const) if (!v[k]) throw new UsageError(`export-trl needs --${k}`);
  const out = v.out!;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new Error(`--out '${out}' is a file; give a folder for the export`);

  // 1. Settings and data, before the model is looked at.
  const config = resolveTrainingConfig(configFromOptions(v));
  const examples = readExamples(v.data!, 'nothing was written');
  if (examples === null) return 1;

  // 2. The tokenizer: a chat template means conversational records, else the plain template.
  const tokenizer = await TextTokenizer.load(resolveModelSource(v.model!));
  if (tokenizer.eosTokenId === null) {
    throw new Error(`--model '${v.model}': the tokenizer has no EOS token (tokenizer_config.json sets no eos_token), so a trained model could not learn where a reply ends`);
  }
  const eosToken = tokenizer.idToToken(tokenizer.eosTokenId);
  const { name: baseModel, note } = trlModelName(v.model!);
  const hasChatTemplate = tokenizer.chatTemplate !== null;

  // 3. The folder, written whole or not at all.
  await writeFolderAtomic(out, trlExportFiles(examples, config, { baseModel, hasChatTemplate, eosToken }));
  const form = hasChatTemplate ? "conversations in the model's chat template" : 'plain text in the ### Input / ### Output template';
  console.log(`${examples.length} examples (${form}) and the settings written to ${out}`);
  if (note) console.log(note);
  console.log(`on a machine with CUDA GPUs: pip install "trl>=0.24" peft accelerate datasets; cd ${out}; accelerate launch train.py (see README.md)`);
  return 0;
}

/**
 * What train.py should load for --model: a Hugging Face id as it is (a huggingface.co resolve URL
 * becomes its id), a local folder as its absolute path (with a note that the path must exist
 * where training runs), any other URL as it is (with a note that TRL cannot download it).
 */
function trlModelName(arg: string): { name: string; note?: string } {
  const hub = /^https?:\/\/huggingface\.co\/([\w.-]+\/[\w.-]+)\/resolve\/main\/?$/.exec(arg);
  if (hub) return { name: hub[1] };
  if (/^https?:\/\//.test(arg)) {
    return { name: arg, note: `note: train.py cannot load a model from a URL; set BASE_MODEL in train.py to a Hugging Face id or a folder on the training machine` };
  }
  if (existsSync(arg)) {
    const path = resolve(arg);
    return { name: path, note: `note: train.py loads the model from ${path}; on another machine, copy the model there or set BASE_MODEL in train.py to its Hugging Face id` };
  }
  return { name: arg };
}
