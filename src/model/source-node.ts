// A model folder on the local disk (Node only).
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ModelSource } from './source.js';

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
