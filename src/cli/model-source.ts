// --model: a local folder, a base URL, or a Hugging Face id (downloaded through its resolve URL).
import { existsSync } from 'node:fs';
import { folderSource } from '../model/source-node.js';
import { urlSource, type ModelSource } from '../model/source.js';

export function resolveModelSource(arg: string): ModelSource {
  if (/^https?:\/\//.test(arg)) return urlSource(arg.endsWith('/') ? arg : `${arg}/`);
  if (existsSync(arg)) return folderSource(arg);
  if (/^[\w.-]+\/[\w.-]+$/.test(arg)) return urlSource(`https://huggingface.co/${arg}/resolve/main/`);
  throw new Error(`--model '${arg}' is neither a folder that exists, a URL, nor a Hugging Face id (owner/name)`);
}
