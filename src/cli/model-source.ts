// --model: a local folder, a base URL, or a Hugging Face id (downloaded through its resolve URL),
// with the Hub's access token from --hf-token or HF_TOKEN (./common.ts), sent only to the Hub.
// The download of a URL model shows its progress on stderr (./progress.ts DownloadPrinter).
import { resolveModelSource as resolve } from '../model/source-node.js';
import type { ModelSource } from '../model/source.js';
import { hfToken } from './common.js';
import { DownloadPrinter } from './progress.js';

export function resolveModelSource(arg: string, progress = new DownloadPrinter(process.stderr)): ModelSource {
  const token = hfToken();
  const onProgress = (file: string, loaded: number, total: number, size?: number) => progress.update(file, loaded, total, size);
  return resolve(arg, '--model', token === undefined ? { onProgress } : { onProgress, hfToken: token });
}
