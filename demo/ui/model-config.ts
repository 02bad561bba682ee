// The spec of a model the engine has just loaded, read on this page from the model's config.json,
// so that the weights format control can estimate every format for models outside the list. The
// input is resolved as the engine resolves it (src/engine/worker-client.ts forWorker and
// src/engine/engine.ts source): a path on this site is a URL on it, owner/name a Hugging Face id,
// picked Files or a directory handle the folder itself. A URL is read through the engine's model
// cache, which the load has just filled, so nothing is downloaded again.
import type { ModelInput } from '../../src/engine/types.js';
import { cachedUrlSource, hasCacheStorage } from '../../src/model/cached-source.js';
import { parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { hubModelUrl, normalizeHubToken } from '../../src/model/hub.js';
import { directoryHandleSource, fileListSource, readJsonIfExists, urlSource, type ModelSource } from '../../src/model/source.js';

const HF_ID = /^[\w.-]+\/[\w.-]+$/;

function sourceOf(input: ModelInput, hfToken: string | null): ModelSource {
  if (Array.isArray(input)) return fileListSource(input);
  if (typeof input !== 'string') {
    if ('getDirectoryHandle' in input) return directoryHandleSource(input as FileSystemDirectoryHandle);
    return input;
  }
  const s = input.trim();
  const url = /^(\/|\.\.?\/)/.test(s) ? new URL(s, document.baseURI).href : /^https?:\/\//.test(s) ? s : HF_ID.test(s) ? hubModelUrl(s) : new URL(s, document.baseURI).href;
  const base = url.endsWith('/') ? url : `${url}/`;
  const token = normalizeHubToken(hfToken);
  const opts = token === null ? {} : { hfToken: token };
  return hasCacheStorage() ? cachedUrlSource(base, opts) : urlSource(base, opts);
}

/** The loaded model's spec from its config.json; throws when it cannot be read. */
export async function readModelSpec(input: ModelInput, hfToken: string | null): Promise<ModelSpec> {
  const source = sourceOf(input, hfToken);
  const config = await readJsonIfExists(source, 'config.json');
  if (config === null) throw new Error(`${source.description}/config.json is missing`);
  return parseModelConfig(config, `${source.description}/config.json`);
}
