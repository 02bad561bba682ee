// A model folder under a base URL whose files stay in the browser's Cache Storage: the first read
// of a file downloads it whole (reporting progress) and stores it; every later read, on this
// visit or the next (also with the network off), slices the stored copy. Optional files that the
// server does not have are remembered as absent, so a cached model loads without any request.
// Downloads from the Hugging Face Hub carry its token like urlSource's requests (./hub.ts); the
// stored copy is the file alone, so a cached gated model loads later without the token.
import { hubAccessError, hubAuthorization } from './hub.js';
import { urlSource, watchedFetch, type ModelSource, type UrlSourceOptions } from './source.js';

export const MODEL_CACHE = 'webgpu-lora-models';

/** The header of a stored "this file does not exist" entry. */
const ABSENT = 'x-webgpu-lora-absent';

export interface CachedUrlSourceOptions extends UrlSourceOptions {
  /** The Cache Storage cache to use (default MODEL_CACHE). */
  cacheName?: string;
}

/** True where Cache Storage is usable (a secure context in a browser or a worker). */
export function hasCacheStorage(): boolean {
  return typeof caches !== 'undefined';
}

export function cachedUrlSource(baseUrl: string, opts: CachedUrlSourceOptions = {}): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const network = urlSource(base, opts);
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const urlOf = (file: string) => base + file.split('/').map(encodeURIComponent).join('/');
  let cache: Promise<Cache> | null = null;
  const open = () => (cache ??= caches.open(opts.cacheName ?? MODEL_CACHE));
  const blobs = new Map<string, Promise<Blob>>();

  /** The stored response for file, or undefined when it was never stored. */
  const stored = async (file: string) => (await open()).match(urlOf(file));

  /**
   * Downloads file whole into the cache (the body streams to the cache, counted on its way). A
   * stalled server or a connection closed mid-body fails naming the URL, as in urlSource.
   */
  async function download(file: string): Promise<Blob> {
    const url = urlOf(file);
    const hint = "offline, or the server does not allow cross-origin requests; the file is not in the browser's cache yet";
    const { res, body, failure } = await watchedFetch(doFetch, url, { headers: hubAuthorization(url, opts) }, hint, opts.stallTimeoutMs);
    if (!res.ok || !res.body) throw hubAccessError(res, 'GET', url, opts) ?? new Error(`GET ${url}: HTTP ${res.status} ${res.statusText}`);
    const total = Number(res.headers.get('content-length') ?? 0) || 0;
    const counted = body((loaded) => opts.onProgress?.(file, loaded, total));
    const headers = { 'content-type': res.headers.get('content-type') ?? 'application/octet-stream' };
    await (await open()).put(url, new Response(counted, { headers })).catch((e: unknown) => {
      throw failure() ?? e; // the body's own explanation, whatever Cache.put makes of it
    });
    const copy = await stored(file);
    if (!copy) throw new Error(`${url}: downloaded, but the browser did not keep it in Cache Storage (is the disk full?)`);
    const blob = await copy.blob();
    if (total && blob.size !== total) throw new Error(`GET ${url}: got ${blob.size} of ${total} bytes`);
    return blob;
  }

  /** The file's bytes as a Blob, from the cache or downloaded once. */
  function blobOf(file: string): Promise<Blob> {
    let b = blobs.get(file);
    if (!b) {
      b = (async () => {
        const hit = await stored(file);
        if (hit && !hit.headers.has(ABSENT)) return hit.blob();
        if (hit) throw new Error(`${urlOf(file)} does not exist`);
        return download(file);
      })();
      b.catch(() => blobs.delete(file)); // a failed download is retried on the next read
      blobs.set(file, b);
    }
    return b;
  }

  return {
    description: network.description,
    async exists(file) {
      const hit = await stored(file);
      if (hit) return !hit.headers.has(ABSENT);
      const there = await network.exists(file);
      if (!there) await (await open()).put(urlOf(file), new Response('', { headers: { [ABSENT]: '1' } }));
      return there;
    },
    size: async (file) => (await blobOf(file)).size,
    async read(file, start = 0, end?: number) {
      const blob = await blobOf(file);
      return new Uint8Array(await blob.slice(start, end ?? blob.size).arrayBuffer());
    },
  };
}
