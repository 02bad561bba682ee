// Writing files so that a crash or an error never leaves a half-written file behind (Node only).
//
// A rename within one file system replaces its target atomically: readers see the old file or the
// new one, never a mix. So every file is first written completely (and fsynced) under a temporary
// name, and only then renamed over its real name.
//
// writeFolderAtomic(dir, files) works in three phases:
//   1. write:  every file into a new sibling folder `${dir}.tmp-<random>`, each fsynced;
//   2. stage:  if dir does not exist, the whole sibling folder is renamed to dir in one step, and
//              that is all; otherwise each file is renamed into dir under a temporary name
//              `.<name>.tmp-<random>` (the sibling folder is on the same file system, so this is a
//              rename, not a copy);
//   3. commit: each staged file is renamed over its real name, and dir is fsynced.
// An error in phases 1 and 2 removes every temporary file and leaves dir exactly as it was. Phase 3
// is renames within one directory, which fail only if the disk itself fails; files not yet
// committed then keep their old contents and their temporaries are removed.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

const suffix = () => randomBytes(6).toString('hex');

/** Write bytes to a new file and fsync it before closing. */
async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx'); // wx: never reuse an existing file
  try {
    let done = 0;
    while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a directory, so that renames in it survive a crash; a no-op where the OS refuses it. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open or fsync directories; renames there are durable on their own terms.
  } finally {
    await handle?.close();
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Replace one file atomically: write `${path}.tmp-<random>`, fsync, rename over path. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const target = resolve(path);
  const tmp = `${target}.tmp-${suffix()}`;
  try {
    await writeSynced(tmp, bytes);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(target));
}

/**
 * Replace one file atomically with bytes produced in pieces (a file too large to hold whole):
 * produce(sink) writes them in order to `${path}.tmp-<random>`, which is then fsynced and renamed
 * over path; on an error the temporary file is removed and path is left as it was.
 */
export async function writeFileAtomicStream<T>(path: string, produce: (sink: { write(bytes: Uint8Array): Promise<void> }) => Promise<T>): Promise<T> {
  const target = resolve(path);
  const tmp = `${target}.tmp-${suffix()}`;
  let result: T;
  try {
    const handle = await open(tmp, 'wx');
    try {
      result = await produce({
        write: async (bytes) => {
          let done = 0;
          while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
        },
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(target));
  return result;
}

/** A plain file name: no path separators, not '.' or '..'. */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new Error(`writeFolderAtomic: ${JSON.stringify(name)} is not a plain file name`);
  }
}

/**
 * Write `files` (name → bytes) into the folder dir, creating it (and its parents) if needed. Each
 * file is replaced atomically; other files already in dir are left alone. On an error before the
 * commit phase nothing in dir changes. See the comment at the top of this file.
 */
export async function writeFolderAtomic(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  const names = Object.keys(files);
  names.forEach(checkName);
  const target = resolve(dir);
  const tmpDir = `${target}.tmp-${suffix()}`;
  await mkdir(dirname(target), { recursive: true });
  const staged: Array<{ from: string; to: string }> = [];
  try {
    // 1. write
    await mkdir(tmpDir);
    for (const name of names) await writeSynced(join(tmpDir, name), files[name]);
    await syncDir(tmpDir);
    // 2. stage: a new folder appears whole, in one rename.
    if (!(await exists(target))) {
      try {
        await rename(tmpDir, target);
        await syncDir(dirname(target));
        return;
      } catch (e) {
        // Someone created dir meanwhile (the rename then fails on a non-empty folder): stage per file.
        if (!(await exists(target))) throw e;
      }
    }
    for (const name of names) {
      // A folder in the way would make the commit's rename fail half-way: refuse it now.
      const existing = await stat(join(target, name)).catch(() => null);
      if (existing?.isDirectory()) throw new Error(`writeFolderAtomic: ${join(target, name)} is a folder; it cannot be replaced by a file`);
      const to = join(target, `.${name}.tmp-${suffix()}`);
      await rename(join(tmpDir, name), to);
      staged.push({ from: to, to: join(target, name) });
    }
  } catch (e) {
    await Promise.all(staged.map((s) => rm(s.from, { force: true })));
    await rm(tmpDir, { recursive: true, force: true });
    throw e;
  }
  // 3. commit
  let committed = 0;
  try {
    for (const s of staged) {
      await rename(s.from, s.to);
      committed++;
    }
  } catch (e) {
    await Promise.all(staged.slice(committed).map((s) => unlink(s.from).catch(() => {})));
    throw new Error(`writeFolderAtomic: ${target}: ${committed} of ${staged.length} files were replaced before this error; the others are unchanged: ${(e as Error).message}`);
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  await syncDir(target);
}
