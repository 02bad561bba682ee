// --model: a local folder, a base URL, or a Hugging Face id (downloaded through its resolve URL).
import { resolveModelSource as resolve } from '../model/source-node.js';
import type { ModelSource } from '../model/source.js';

export function resolveModelSource(arg: string): ModelSource {
  return resolve(arg, '--model');
}
