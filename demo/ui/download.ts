// Saving bytes the page made (a zip of an adapter, a model, a training folder) or a file the
// engine wrote (a GGUF export) as a download: an object URL on an anchor with a download
// attribute, revoked once the browser has it.
import { zipFiles } from '../../src/io/zip.js';
import type { Files } from '../../src/engine/types.js';

/** Offers `bytes` as a file named `name`. */
export function downloadBytes(bytes: Uint8Array, name: string, type = 'application/zip'): void {
  downloadBlob(new Blob([bytes.slice()], { type }), name);
}

/**
 * Offers a Blob or File as a file named `name`, without reading it: a disk-backed File (one from
 * the origin-private file system) goes from disk to the downloads folder.
 */
export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started from the URL by now; a minute is ample for slow disks.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Zips `files` (optionally all under `folder/`) and offers the archive as `name`. */
export function downloadZip(files: Files, name: string, folder?: string): number {
  const entries = folder ? Object.fromEntries(Object.entries(files).map(([k, v]) => [`${folder}/${k}`, v])) : files;
  const zip = zipFiles(entries);
  downloadBytes(zip, name);
  return zip.byteLength;
}
