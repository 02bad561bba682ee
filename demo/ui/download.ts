// Saving bytes the page made (a zip of an adapter, a model, a training folder) as a download:
// an object URL on an anchor with a download attribute, revoked once the browser has it.
import { zipFiles } from '../../src/io/zip.js';
import type { Files } from '../../src/engine/types.js';

/** Offers `bytes` as a file named `name`. */
export function downloadBytes(bytes: Uint8Array, name: string, type = 'application/zip'): void {
  const url = URL.createObjectURL(new Blob([bytes.slice()], { type }));
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
