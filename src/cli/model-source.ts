// --model: a local folder, a base URL, or a Hugging Face id (downloaded through its resolve URL),
// with the Hub's access token from --hf-token or HF_TOKEN (./common.ts), sent only to the Hub.
import { resolveModelSource as resolve } from '../model/source-node.js';
import type { ModelSource } from '../model/source.js';
import { hfToken } from './common.js';

export function resolveModelSource(arg: string): ModelSource {
  const token = hfToken();
  return resolve(arg, '--model', token === undefined ? {} : { hfToken: token });
}
