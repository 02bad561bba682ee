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

export interface UrlSourceOptions extends HubOptions {
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Called as each response body arrives: bytes received so far out of the bytes this read wants. */
  onProgress?: (file: string, loaded: number, total: number) => void;
}

/**
 * Files under a base URL, e.g. `https://huggingface.co/<id>/resolve/main/`. exists() sends a HEAD
 * (404 or 410 → false); size() takes Content-Length from the HEAD, or the total from the
 * Content-Range of a `Range: bytes=0-0` GET; read() sends `Range: bytes=start-(end-1)` and
 * accepts a 206 with those bytes, or a 200 with the whole file, from which it keeps [start, end).
 * Requests to the Hub's origin carry the token (opts.hfToken, else the realm's default), and a
 * 401 or 403 from the Hub is a HubAccessError saying whether a token is needed or was refused.
 */
export function urlSource(baseUrl: string, opts: UrlSourceOptions = {}): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const urlOf = (file: string) => base + file.split('/').map(encodeURIComponent).join('/');
  const sizes = new Map<string, number>();
  const request = async (file: string, init: { method?: string; headers?: Record<string, string> }): Promise<Response> => {
    const url = urlOf(file);
    const headers = { ...init.headers, ...hubAuthorization(url, opts) };
    try {
      return await doFetch(url, { ...init, headers });
    } catch (e) {
      throw new Error(`${init.method ?? 'GET'} ${url} failed: ${(e as Error).message} (network error, or the server does not allow cross-origin requests)`);
    }
  };
  const httpError = (res: Response, method: string, file: string) =>
    hubAccessError(res, method, urlOf(file), opts) ??
    new Error(`${method} ${urlOf(file)}: HTTP ${res.status} ${res.statusText}${res.status === 401 || res.status === 403 ? ' (the model may be gated or private)' : ''}`);

  /** A HEAD's Content-Length, remembered as the file's size; NaN when absent or of a compressed body. */
  const rememberLength = (file: string, res: Response): number => {
    const encoding = res.headers.get('content-encoding');
    const n = encoding && encoding !== 'identity' ? NaN : Number(res.headers.get('content-length') ?? NaN);
    if (Number.isSafeInteger(n)) sizes.set(file, n);
    return n;
  };

  async function size(file: string): Promise<number> {
    const known = sizes.get(file);
    if (known !== undefined) return known;
    const head = await request(file, { method: 'HEAD' });
    if (!head.ok) throw httpError(head, 'HEAD', file);
    let n = rememberLength(file, head);
    if (!Number.isSafeInteger(n)) {
      // No usable length: ask for the first byte and read the total from "Content-Range: bytes 0-0/<total>".
      const res = await request(file, { headers: { Range: 'bytes=0-0' } });
      if (!res.ok) throw httpError(res, 'GET', file);
      const total = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '')?.[1];
      if (res.status === 206 && total) n = Number(total);
      else n = (await res.arrayBuffer()).byteLength; // a 200: the whole file came back
      sizes.set(file, n);
    }
    return n;
  }

  return {
    description: base.replace(/\/$/, ''),
    async exists(file) {
      const res = await request(file, { method: 'HEAD' });
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
      const res = await request(file, { headers });
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
      const bytes = await readBody(res, skip, take, (got) => opts.onProgress?.(file, got, total));
      if (Number.isFinite(take) && bytes.length !== take) {
        throw new Error(`GET ${urlOf(file)}: got ${bytes.length} bytes of [${start}, ${stop}); the file is shorter than expected`);
      }
      return bytes;
    },
  };
}

/** Bytes [skip, skip + take) of a response body, streamed, cancelling the rest once they are in. */
async function readBody(res: Response, skip: number, take: number, progress: (got: number) => void): Promise<Uint8Array> {
  if (!res.body) {
    const all = new Uint8Array(await res.arrayBuffer());
    progress(Math.min(all.length - skip, take));
    return all.slice(skip, skip + take);
  }
  const reader = res.body.getReader();
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
