// A model folder on the local disk (Node only), and the resolution of a model argument.
import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hubModelUrl, type HubOptions } from './hub.js';
import { urlSource, type ModelSource, type UrlSourceOptions } from './source.js';

export function folderSource(dir: string): ModelSource {
  const root = resolve(dir);
  const path = (file: string) => join(root, file);
  return {
    description: root,
    async exists(file) {
      try {
        return (await stat(path(file))).isFile();
      } catch {
        return false;
      }
    },
    async size(file) {
      return (await stat(path(file))).size;
    },
    async read(file, start = 0, end?: number) {
      const handle = await open(path(file), 'r');
      try {
        const stop = end ?? (await handle.stat()).size;
        const bytes = new Uint8Array(Math.max(0, stop - start));
        let done = 0;
        while (done < bytes.length) {
          const { bytesRead } = await handle.read(bytes, done, bytes.length - done, start + done);
          if (bytesRead === 0) throw new Error(`${path(file)}: unexpected end of file at byte ${start + done} (wanted up to ${stop})`);
          done += bytesRead;
        }
        return bytes;
      } finally {
        await handle.close();
      }
    },
  };
}

/**
 * The Hub settings in Node: those given, else the environment's HF_TOKEN (the access token) and
 * HF_ENDPOINT (the Hub's address), the variables huggingface_hub reads, else the realm's defaults.
 */
export function nodeHubOptions(opts: HubOptions = {}, env: Record<string, string | undefined> = process.env): HubOptions {
  return {
    hfToken: opts.hfToken !== undefined ? opts.hfToken : env.HF_TOKEN,
    hubEndpoint: opts.hubEndpoint ?? (env.HF_ENDPOINT || undefined),
  };
}

/**
 * A model named on a command line or in Node code: a local folder, a base URL, or a Hugging Face
 * id (`owner/name`, from `<hub>/<id>/resolve/main/`). Requests to the Hub carry the token of
 * nodeHubOptions(opts); other hosts never get it. A URL source has the rest of opts (progress,
 * stall timeout) and checks for config.json first, so that a base URL that is not a model folder
 * is reported as such (urlSource's requireFile), not as the first optional file it lacks.
 */
export function resolveModelSource(arg: string, what = 'the model', opts: UrlSourceOptions = {}): ModelSource {
  const url = { ...opts, ...nodeHubOptions(opts), requireFile: 'config.json' };
  if (/^https?:\/\//.test(arg)) return urlSource(arg.endsWith('/') ? arg : `${arg}/`, url);
  if (existsSync(arg)) return folderSource(arg);
  if (/^[\w.-]+\/[\w.-]+$/.test(arg)) return urlSource(hubModelUrl(arg, url), url);
  throw new Error(`${what} '${arg}' is neither a folder that exists, a URL, nor a Hugging Face id (owner/name)`);
}
