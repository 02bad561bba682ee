// Where a Hugging Face model folder's files come from: a local folder (Node, ./source-node.ts),
// a base URL, or files the user picked in a browser. Readers ask for byte ranges so that large
// safetensors files are never held whole in memory. Requests to the Hugging Face Hub carry its
// access token when there is one (./hub.ts: only to the Hub's origin).
import { hubAccessError, hubAuthorization, type HubOptions } from './hub.js';

export interface ModelSource {
  /** A path or URL, used in messages. */
  readonly description: string;
  exists(file: string): Promise<boolean>;
  /** The file's size in bytes; throws when it does not exist. */
  size(file: string): Promise<number>;
  /** Bytes [start, end) of the file (default: all of it); throws when it does not exist. */
  read(file: string, start?: number, end?: number): Promise<Uint8Array>;
}

/** A file's text, or null when the source does not have it. */
export async function readTextIfExists(source: ModelSource, file: string): Promise<string | null> {
  if (!(await source.exists(file))) return null;
  return new TextDecoder().decode(await source.read(file));
}

/** A JSON file, parsed, or null when absent; invalid JSON is an error naming the file. */
export async function readJsonIfExists<T = unknown>(source: ModelSource, file: string): Promise<T | null> {
  const text = await readTextIfExists(source, file);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${source.description}/${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Files held in memory (tests, generated adapters, files fetched whole elsewhere). */
export function memorySource(files: Record<string, Uint8Array>, description = 'memory'): ModelSource {
  const get = (file: string) => {
    const bytes = files[file];
    if (!bytes) throw new Error(`${description}/${file} does not exist`);
    return bytes;
  };
  return {
    description,
    exists: async (file) => Object.hasOwn(files, file),
    size: async (file) => get(file).length,
    read: async (file, start = 0, end?: number) => get(file).slice(start, end),
  };
}

/** How long a request may wait for its answer, or a body for its next bytes, by default (UrlSourceOptions.stallTimeoutMs). */
export const STALL_TIMEOUT_MS = 30_000;

export interface UrlSourceOptions extends HubOptions {
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Called as each response body arrives: bytes received so far out of the bytes this read wants,
   * and the file's size where known (from a HEAD or an earlier answer), so that the reads of parts
   * of a file can be shown as progress through the file.
   */
  onProgress?: (file: string, loaded: number, total: number, size?: number) => void;
  /**
   * Milliseconds a request may go without receiving anything (its answer, then each next piece of
   * its body) before it fails with an error naming the URL (default STALL_TIMEOUT_MS).
   */
  stallTimeoutMs?: number;
  /**
   * A file every folder at such a base has (resolveModelSource: a model folder's config.json). It
   * is looked for (HEAD) before the first other request; when the server does not have it (404,
   * 410), every call fails with "HEAD <base>/<file>: HTTP 404 ... (is <base> a model folder? ...)",
   * instead of the first optional file found missing being blamed.
   */
  requireFile?: string;
}

/**
 * Files under a base URL, e.g. `https://huggingface.co/<id>/resolve/main/`. exists() sends a HEAD
 * (404 or 410 → false); size() takes Content-Length from the HEAD, or the total from the
 * Content-Range of a `Range: bytes=0-0` GET; read() sends `Range: bytes=start-(end-1)` and
 * accepts a 206 with those bytes, or a 200 with the whole file, from which it keeps [start, end).
 * Requests to the Hub's origin carry the token (opts.hfToken, else the realm's default), and a
 * 401 or 403 from the Hub is a HubAccessError saying whether a token is needed or was refused.
 * Every request fails, naming its URL, when the server stalls (opts.stallTimeoutMs) or closes the
 * connection mid-body (watchedFetch).
 */
export function urlSource(baseUrl: string, opts: UrlSourceOptions = {}): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const description = base.replace(/\/$/, '');
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const urlOf = (file: string) => base + file.split('/').map(encodeURIComponent).join('/');
  const sizes = new Map<string, number>();
  const send = (file: string, init: { method?: string; headers?: Record<string, string> }) => {
    const url = urlOf(file);
    const headers = { ...init.headers, ...hubAuthorization(url, opts) };
    return watchedFetch(doFetch, url, { ...init, headers }, 'network error, or the server does not allow cross-origin requests', opts.stallTimeoutMs);
  };
  const httpError = (res: Response, method: string, file: string) =>
    hubAccessError(res, method, urlOf(file), opts) ??
    new Error(`${method} ${urlOf(file)}: HTTP ${res.status} ${res.statusText}${res.status === 401 || res.status === 403 ? ' (the model may be gated or private)' : ''}`);

  /** A HEAD's Content-Length, remembered as the file's size; NaN when absent or of a compressed body. */
  const rememberLength = (file: string, res: Response): number => {
    const n = bodyLength(res);
    if (Number.isSafeInteger(n)) sizes.set(file, n);
    return n;
  };

  // opts.requireFile, looked for once before any other request (again after a failure).
  let checked: Promise<void> | null = null;
  const check = async (marker: string) => {
    const { res } = await send(marker, { method: 'HEAD' });
    if (res.status === 404 || res.status === 410) {
      throw new Error(`HEAD ${urlOf(marker)}: HTTP ${res.status} ${res.statusText} (is ${description} a model folder? A Hugging Face model folder has a ${marker})`);
    }
    if (!res.ok) throw httpError(res, 'HEAD', marker);
    rememberLength(marker, res);
  };
  const request = async (file: string, init: { method?: string; headers?: Record<string, string> }) => {
    if (opts.requireFile !== undefined) {
      checked ??= check(opts.requireFile).catch((e: unknown) => {
        checked = null;
        throw e;
      });
      await checked;
    }
    return send(file, init);
  };

  async function size(file: string): Promise<number> {
    const known = sizes.get(file);
    if (known !== undefined) return known;
    const { res: head } = await request(file, { method: 'HEAD' });
    if (!head.ok) throw httpError(head, 'HEAD', file);
    let n = rememberLength(file, head);
    if (!Number.isSafeInteger(n)) {
      // No usable length: ask for the first byte and read the total from "Content-Range: bytes 0-0/<total>".
      const { res, body } = await request(file, { headers: { Range: 'bytes=0-0' } });
      if (!res.ok) throw httpError(res, 'GET', file);
      const total = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '')?.[1];
      if (res.status === 206 && total) n = Number(total);
      else n = (await readBody(body(), 0, Infinity, () => {})).length; // a 200: the whole file came back
      sizes.set(file, n);
    }
    return n;
  }

  return {
    description,
    async exists(file) {
      const { res } = await request(file, { method: 'HEAD' });
      if (res.status === 404 || res.status === 410) return false;
      if (!res.ok) throw httpError(res, 'HEAD', file);
      rememberLength(file, res);
      return true;
    },
    size,
    async read(file, start = 0, end?: number) {
      const whole = start === 0 && end === undefined;
      const stop = end ?? (whole ? Infinity : await size(file));
      if (stop <= start) return new Uint8Array(0);
      const headers: Record<string, string> = whole ? {} : { Range: `bytes=${start}-${stop - 1}` };
      const { res, body } = await request(file, { headers });
      if (!res.ok) throw httpError(res, 'GET', file);
      // A 200 is the whole file: skip to start. A 206 starts at start (checked when stated).
      const skip = res.status === 206 ? 0 : start;
      const stated = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
      if (res.status === 206 && stated !== undefined && Number(stated) !== start) {
        throw new Error(`GET ${urlOf(file)}: asked for bytes from ${start}, the server sent from ${stated}`);
      }
      // Progress is out of the bytes this read returns (the Content-Length when reading a whole file).
      const take = stop - start;
      const total = Number.isFinite(take) ? take : Number(res.headers.get('content-length') ?? 0) || 0;
      const bytes = await readBody(body(), skip, take, (got) => opts.onProgress?.(file, got, total, sizes.get(file)));
      if (Number.isFinite(take) && bytes.length !== take) {
        throw new Error(`GET ${urlOf(file)}: got ${bytes.length} bytes of [${start}, ${stop}); the file is shorter than expected`);
      }
      return bytes;
    },
  };
}

/** Bytes [skip, skip + take) of a (watched) body, streamed, cancelling the rest once they are in. */
async function readBody(body: ReadableStream<Uint8Array>, skip: number, take: number, progress: (got: number) => void): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let seen = 0; // body bytes consumed so far
  let got = 0; // bytes kept
  while (got < take) {
    const { done, value } = await reader.read();
    if (done) break;
    const from = Math.max(0, skip - seen);
    seen += value.length;
    if (from >= value.length) continue;
    const part = value.subarray(from, from + Math.min(value.length - from, take - got));
    chunks.push(part);
    got += part.length;
    progress(got);
  }
  if (got >= take) await reader.cancel().catch(() => {});
  if (chunks.length === 1) return chunks[0].slice();
  const out = new Uint8Array(got);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A body's length from Content-Length; NaN when absent or the body is compressed (the count is of other bytes). */
function bodyLength(res: Response): number {
  const encoding = res.headers.get('content-encoding');
  return encoding && encoding !== 'identity' ? NaN : Number(res.headers.get('content-length') ?? NaN);
}

/** An error's message with its cause's, where there is one (undici: "fetch failed: connect ECONNREFUSED ..."). */
function explain(e: unknown): string {
  const { message, cause } = e as { message?: string; cause?: { message?: string; code?: string } };
  const why = cause?.message || cause?.code;
  return why && why !== message ? `${message}: ${why}` : String(message ?? e);
}

/** The server sent nothing for the stall timeout: no answer to a request, or no next bytes of its body. */
export class StalledError extends Error {
  override name = 'StalledError';
}

/**
 * `method url` fetched with a guard against a server that stops sending: the answer must come
 * within `stallMs` of the request, and each next piece of the body (`body()`) within `stallMs` of
 * the one before; otherwise the request is aborted (its connection closed) and the wait fails
 * with a StalledError "<method> <url>: the server sent nothing for <s> s after ...". The timer
 * races the wait, so it holds also for a fetch that ignores the abort signal. A request that
 * cannot be sent fails with "<method> <url> failed: <why> (<hint>)"; a body whose connection closes
 * early (undici's "terminated", ECONNRESET) fails with "<method> <url>: the connection closed after
 * N of M bytes (<why>)". `failure()` is the body's error so explained, for callers that see it
 * through another API (Cache.put).
 */
export async function watchedFetch(doFetch: typeof fetch, url: string, init: RequestInit, hint: string, stallMs = STALL_TIMEOUT_MS) {
  const where = `${init.method ?? 'GET'} ${url}`;
  const abort = new AbortController();
  let failed: Error | undefined;
  const within = <T>(p: Promise<T>, after: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        failed ??= new StalledError(`${where}: the server sent nothing for ${stallMs / 1000} s after ${after} (a stalled connection; UrlSourceOptions.stallTimeoutMs sets the limit)`);
        abort.abort(failed);
        reject(failed);
      }, stallMs);
      p.finally(() => clearTimeout(timer)).then(resolve, reject);
    });
  let res: Response;
  try {
    res = await within(doFetch(url, { ...init, signal: abort.signal }), 'the request');
  } catch (e) {
    throw e instanceof StalledError ? e : new Error(`${where} failed: ${explain(e)} (${hint})`);
  }
  const length = Number.isSafeInteger(bodyLength(res)) ? String(bodyLength(res)) : '?';
  /** The body as a stream with the stall timeout and the explained errors (empty when the response has none). */
  const body = (onBytes: (seen: number) => void = () => {}): ReadableStream<Uint8Array> => {
    const reader = res.body?.getReader();
    let seen = 0;
    // highWaterMark 0: a piece is read only when asked for, so no timer runs for a body nobody reads.
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (!reader) return controller.close();
          const next = await within(reader.read(), `${seen} of ${length} bytes`).catch((e: unknown) => {
            throw (failed ??= new Error(`${where}: the connection closed after ${seen} of ${length} bytes (${explain(e)})`));
          });
          if (next.done) return controller.close();
          seen += next.value.length;
          onBytes(seen);
          controller.enqueue(next.value);
        },
        cancel: (reason) => reader?.cancel(reason),
      },
      { highWaterMark: 0 },
    );
  };
  return { res, body, failure: () => failed };
}

/** Reads byte ranges of a Blob (a File from an <input> or a directory handle). */
async function readBlob(blob: Blob, start = 0, end?: number): Promise<Uint8Array> {
  return new Uint8Array(await blob.slice(start, end ?? blob.size).arrayBuffer());
}

/** A picked file with its path below the picked folder's parent (what webkitRelativePath says). */
export interface PickedFile {
  path: string;
  file: File;
}

/**
 * Files picked with `<input type="file" webkitdirectory>` (or dropped). Each file is known by its
 * path below the picked folder (webkitRelativePath without its first component, or its name);
 * a plain file name also finds the shallowest file of that name, so picking a folder that holds
 * the model folder still works. Files sent to a worker lose webkitRelativePath: send PickedFiles.
 */
export function fileListSource(files: Array<File | PickedFile> | FileList): ModelSource {
  const list = Array.from(files, (f): PickedFile => (f instanceof Blob ? { path: f.webkitRelativePath || f.name, file: f } : f));
  const byPath = new Map<string, File>();
  const depth = (f: PickedFile) => f.path.split('/').length;
  for (const f of [...list].sort((a, b) => depth(a) - depth(b))) {
    const parts = f.path.split('/');
    const rel = parts.length > 1 ? parts.slice(1).join('/') : parts[0];
    if (!byPath.has(rel)) byPath.set(rel, f.file);
    const baseName = parts[parts.length - 1];
    if (!byPath.has(baseName)) byPath.set(baseName, f.file);
  }
  const top = list[0]?.path.includes('/') ? list[0].path.split('/')[0] : '';
  const description = top || 'selected files';
  const get = (file: string) => {
    const f = byPath.get(file);
    if (!f) throw new Error(`${description}/${file} is not among the selected files`);
    return f;
  };
  return {
    description,
    exists: async (file) => byPath.has(file),
    size: async (file) => get(file).size,
    read: async (file, start, end) => readBlob(get(file), start, end),
  };
}

/** A folder opened with showDirectoryPicker() (File System Access API). */
export function directoryHandleSource(handle: FileSystemDirectoryHandle): ModelSource {
  async function getFile(file: string): Promise<File | null> {
    const parts = file.split('/').filter((p) => p !== '');
    let dir = handle;
    try {
      for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p);
      return await (await dir.getFileHandle(parts[parts.length - 1])).getFile();
    } catch (e) {
      const name = (e as DOMException).name;
      if (name === 'NotFoundError' || name === 'TypeMismatchError') return null;
      throw new Error(`${handle.name}/${file}: ${(e as Error).message}`);
    }
  }
  const must = async (file: string) => {
    const f = await getFile(file);
    if (!f) throw new Error(`${handle.name}/${file} does not exist`);
    return f;
  };
  return {
    description: handle.name,
    exists: async (file) => (await getFile(file)) !== null,
    size: async (file) => (await must(file)).size,
    read: async (file, start, end) => readBlob(await must(file), start, end),
  };
}
