// Where an exported file is written as it is produced, so that a large export (a merged model's
// GGUF) never sits whole in memory: the browser's origin-private file system (OPFS) where it
// exists, and memory otherwise.
//
// OPFS: each export gets a folder of its own, webgpu-lora-exports/<time>-<n>-<random>/<name>, written
// through a FileSystemSyncAccessHandle (dedicated workers, where the engine runs in the demo) or
// a FileSystemWritableFileStream (a page's own thread); finish() hands back the disk-backed File
// (getFile()), which the page downloads through an object URL without reading it into memory.
// Such a File stays readable only while its file exists, so an export's folder is not removed
// when it is handed over but at the start of a later export, once it is older than a minute
// (ample time for the browser to copy it to the downloads folder); folders left by a tab that
// closed are removed the same way.
//
// Memory (Node, or a browser without OPFS): the bytes are gathered into a Blob every 16 MiB, so
// the caller's heap holds at most that much besides the Blob (a browser keeps large Blobs outside
// the page's heap and may page them to disk).

/** A sink for exportGguf (src/export/gguf/writer.ts ByteSink), and what to do when it is complete. */
export interface ExportFile {
  /** 'opfs': the bytes go to disk as they are written; 'memory': they are gathered in memory. */
  readonly storage: 'opfs' | 'memory';
  /** Why the bytes are gathered in memory (set only when storage is 'memory'). */
  readonly note?: string;
  write(bytes: Uint8Array): Promise<void>;
  /** Ends the writing and returns the file (disk-backed for 'opfs'). */
  finish(): Promise<File>;
  /** Ends the writing and deletes what was written (after an error). */
  discard(): Promise<void>;
}

/** The OPFS folder that holds one folder per export. */
export const EXPORTS_FOLDER = 'webgpu-lora-exports';
/** How long an export's folder is kept after it was made, for the page's download of its File. */
export const KEEP_EXPORT_MS = 60_000;
/** Memory sinks gather their chunks into the Blob whenever this many bytes are pending. */
const GATHER_BYTES = 16 * 2 ** 20;

let exportsMade = 0;

/** The OPFS root, or why there is none. */
async function opfsRoot(): Promise<FileSystemDirectoryHandle | string> {
  const storage = typeof navigator === 'undefined' ? undefined : (navigator as Navigator).storage;
  if (typeof storage?.getDirectory !== 'function') return 'this browser has no origin-private file system (navigator.storage.getDirectory)';
  try {
    return await storage.getDirectory();
  } catch (e) {
    return `the origin-private file system is not available here (${e instanceof Error ? e.message : String(e)})`;
  }
}

/**
 * Removes the export folders made more than KEEP_EXPORT_MS ago. Best effort: a folder whose
 * file is still open (another tab writing it) or already gone stays for a later export.
 */
async function removeOldExports(exports: FileSystemDirectoryHandle, now: number): Promise<void> {
  const old: string[] = [];
  for await (const name of (exports as unknown as { keys(): AsyncIterable<string> }).keys()) {
    const made = Number(name.split('-')[0]);
    if (!Number.isFinite(made) || now - made > KEEP_EXPORT_MS) old.push(name);
  }
  for (const name of old) await exports.removeEntry(name, { recursive: true }).catch(() => {});
}

/** A file named `name` to write an export to: on OPFS where it can be, else in memory. */
export async function openExportFile(name: string, type = 'application/octet-stream'): Promise<ExportFile> {
  const root = await opfsRoot();
  if (typeof root === 'string') return memoryFile(name, type, `${root}: the file is gathered in memory before the download`);
  let exports: FileSystemDirectoryHandle;
  try {
    exports = await root.getDirectoryHandle(EXPORTS_FOLDER, { create: true });
  } catch (e) {
    throw storageError(e, 'before the file was created');
  }
  const now = Date.now();
  await removeOldExports(exports, now);
  // The time first (the age removeOldExports reads), then a count and a random part, so that two tabs never share a folder.
  const folderName = `${now}-${++exportsMade}-${Math.random().toString(36).slice(2, 8)}`;
  const remove = () => exports.removeEntry(folderName, { recursive: true }).catch(() => {});
  try {
    const folder = await exports.getDirectoryHandle(folderName, { create: true });
    const handle = await folder.getFileHandle(name, { create: true });
    return typeof handle.createSyncAccessHandle === 'function' ? await syncAccessFile(handle, remove) : await writableFile(handle, remove);
  } catch (e) {
    await remove();
    throw storageError(e, 'before the file was created');
  }
}

/** The quota error as the person can act on it (`when`: how far the file got); other errors as they are. */
function storageError(e: unknown, when: string): Error {
  const name = e instanceof Error || e instanceof DOMException ? e.name : '';
  const message = e instanceof Error || e instanceof DOMException ? e.message : String(e);
  if (name === 'QuotaExceededError') {
    return new Error(`the browser's storage for this site is full ${when} (${message}): free disk space or site storage, or export a smaller type (q8_0)`);
  }
  return e instanceof Error ? e : new Error(message);
}

/** The error for a write the browser did not complete: the disk or the site's quota is full, with the quota as the browser states it. */
async function shortWrite(length: number, at: number): Promise<Error> {
  const { usage, quota } = await navigator.storage.estimate().catch(() => ({ usage: undefined, quota: undefined }));
  const use = usage !== undefined && quota !== undefined ? `; the site uses ${usage} of its ${quota} bytes of storage` : '';
  return new Error(
    `the browser's storage did not take a write of ${length} bytes after ${at} bytes of the file, so the disk or this site's storage quota is full${use}: free disk space or site storage, or export a smaller type (q8_0)`,
  );
}

/** OPFS through a sync access handle: each write goes to disk at once, in the worker's thread. */
async function syncAccessFile(handle: FileSystemFileHandle, remove: () => Promise<void>): Promise<ExportFile> {
  const access = await handle.createSyncAccessHandle();
  let at = 0;
  let open = true;
  const close = () => {
    if (open) access.close();
    open = false;
  };
  return {
    storage: 'opfs',
    async write(bytes) {
      try {
        const n = access.write(bytes, { at });
        // Chrome reports a write that the quota stops as a short (or nonsensical) count, not an error.
        if (n !== bytes.byteLength) throw await shortWrite(bytes.byteLength, at);
      } catch (e) {
        throw storageError(e, `after ${at} bytes`);
      }
      at += bytes.byteLength;
    },
    async finish() {
      try {
        access.flush();
      } catch (e) {
        throw storageError(e, `after ${at} bytes`);
      } finally {
        close();
      }
      return handle.getFile();
    },
    async discard() {
      close();
      await remove();
    },
  };
}

/** OPFS through a writable stream (a page's own thread, where sync access handles do not exist). */
async function writableFile(handle: FileSystemFileHandle, remove: () => Promise<void>): Promise<ExportFile> {
  const stream = await handle.createWritable();
  let at = 0;
  return {
    storage: 'opfs',
    async write(bytes) {
      try {
        await stream.write(bytes as Uint8Array<ArrayBuffer>);
      } catch (e) {
        throw storageError(e, `after ${at} bytes`);
      }
      at += bytes.byteLength;
    },
    async finish() {
      try {
        await stream.close();
      } catch (e) {
        throw storageError(e, `after ${at} bytes`);
      }
      return handle.getFile();
    },
    async discard() {
      await stream.abort().catch(() => {});
      await remove();
    },
  };
}

/** Memory: chunks gathered into a Blob every GATHER_BYTES (see the header). */
export function memoryFile(name: string, type: string, note: string): ExportFile {
  let blob = new Blob([], { type });
  let pending: Uint8Array<ArrayBuffer>[] = [];
  let pendingBytes = 0;
  const gather = () => {
    blob = new Blob([blob, ...pending], { type });
    pending = [];
    pendingBytes = 0;
  };
  return {
    storage: 'memory',
    note,
    async write(bytes) {
      // A copy: the writer may reuse its buffer once write() returns.
      pending.push(bytes.slice());
      pendingBytes += bytes.byteLength;
      if (pendingBytes >= GATHER_BYTES) gather();
    },
    async finish() {
      gather();
      return new File([blob], name, { type });
    },
    async discard() {
      pending = [];
      blob = new Blob([]);
    },
  };
}
