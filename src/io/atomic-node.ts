// Writing files and folders so that a crash, an error or a kill -9 never leaves a half-written
// file or a mix of two folders behind (Node only).
//
// A rename within one file system replaces its target atomically: readers see the old file or the
// new one, never a mix. So every file is first written completely (and fsynced) under a temporary
// name, and only then renamed over its real name.
//
// writeFolderAtomic(dir, files) replaces a whole folder the same way, in three phases:
//   1. write: every file into a new sibling folder `${dir}.tmp-<pid>-<random>`, each fsynced;
//   2. swap:  if dir does not exist, the sibling folder is renamed to dir, and that is all;
//             otherwise dir is renamed aside to `${dir}.old-<pid>-<random>` and the new folder
//             renamed to dir (two renames in one parent folder, which is then fsynced);
//   3. carry: the entries of the old folder that the new one does not have (checkpoints, a README)
//             are renamed into dir, and what is left of the old folder is removed.
// A kill between the two renames of phase 2 leaves no dir but a complete `.old-` folder; a kill in
// phase 3 leaves dir complete with some of its other entries still in `.old-`. recoverFolder, which
// writeFolderAtomic runs first (and a command may run at its start), renames such an `.old-` back
// to dir or moves those entries over, and removes the `.tmp-` folders of writes that never
// finished, once the process that made them (the pid in the name) has ended. An error before
// phase 3 removes the temporaries and leaves dir exactly as it was. Where dir cannot be renamed (a
// mount point; on Windows, a folder with an open file; a folder this user may not write), each
// file is replaced on its own instead, as before (each file atomic, the folder not).
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { access, chmod, mkdir, open, readdir, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

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
 * The name of a sibling of `target` that writeFolderAtomic makes: `${target}.tmp-<pid>-<random>`
 * (the new folder being written) or `${target}.old-<pid>-<random>` (the previous folder, moved
 * aside during the swap). The pid tells recoverFolder whether the process that made it still runs.
 */
const strayName = (target: string, kind: 'tmp' | 'old') => `${target}.${kind}-${process.pid}-${suffix()}`;
/** Such a name, its kind and pid; or the pid-less `.tmp-<random>` of earlier versions (pid 0). */
const STRAY = /^\.(tmp|old)-(?:(\d+)-)?([0-9a-f]{12})$/;
/** A file staged inside the folder by the per-file fallback: `.<name>.tmp-<pid>-<random>`. */
const STAGED = /^\..+\.tmp-(\d+)-[0-9a-f]{12}$/;

/** Whether the process `pid` may still be writing: this process, or one that is alive. */
function mayBeRunning(pid: number): boolean {
  if (pid === 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}

const isDir = (path: string) => stat(path).then((s) => s.isDirectory(), () => false);

/** Move every entry of `from` that `to` lacks into `to` (renames within one file system). */
async function carryOver(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) {
    if (!(await exists(join(to, name)))) await rename(join(from, name), join(to, name));
  }
}

/**
 * Put the folder dir back in order after a writeFolderAtomic that was killed part-way (kill -9,
 * power loss), and remove what it left; writeFolderAtomic does this first, and a command may do it
 * at its start. Only what a process that has ended left is touched: a `.tmp-` folder (a write that
 * never finished) is removed; an `.old-` folder (the previous contents, moved aside) is renamed
 * back to dir if dir is missing, and otherwise (dir holds the new files already) gives dir the
 * entries it lacks (the ones the write did not replace, such as checkpoints) and is removed; a
 * file staged inside dir by the per-file fallback is removed.
 */
export async function recoverFolder(dir: string): Promise<void> {
  const target = resolve(dir);
  const base = basename(target);
  const siblings = await readdir(dirname(target)).catch(() => [] as string[]);
  const strays = siblings.flatMap((name) => {
    const m = name.startsWith(base) ? STRAY.exec(name.slice(base.length)) : null;
    return m && !mayBeRunning(Number(m[2] ?? 0)) ? [{ kind: m[1], path: join(dirname(target), name) }] : [];
  });
  for (const s of strays.filter((s) => s.kind === 'tmp')) await rm(s.path, { recursive: true, force: true });
  for (const s of strays.filter((s) => s.kind === 'old')) {
    if (!(await exists(target))) {
      await rename(s.path, target);
      continue;
    }
    await carryOver(s.path, target);
    await rm(s.path, { recursive: true, force: true });
  }
  if (strays.length) await syncDir(dirname(target));
  if (!(await isDir(target))) return;
  for (const name of await readdir(target)) {
    const m = STAGED.exec(name);
    if (m && !mayBeRunning(Number(m[1]))) await rm(join(target, name), { force: true });
  }
}

/**
 * Throw an Error naming `label` (say, `--out 'runs/a'`) and the path at fault unless
 * writeFolderAtomic(dir) can write there: dir, if it exists, is a folder in which a file can be
 * made; its parent (made if missing) is a folder in which a folder can be made. The check makes and
 * removes a probe named as writeFolderAtomic's temporaries, and removes the parents it made, so it
 * leaves nothing behind. Run it before long work whose result goes to dir.
 */
export async function checkFolderWritable(dir: string, label = `'${dir}'`): Promise<void> {
  const target = await realpath(resolve(dir)).catch(() => resolve(dir));
  const parent = dirname(target);
  const fail = (why: string): never => {
    throw new Error(`${label} cannot be written: ${why}`);
  };
  /** Run one step of the check; its error becomes `why` and the error's reason (not its path). */
  const step = async <T>(why: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      return fail(`${why} (${(e as Error).message.split(',')[0]})`);
    }
  };
  const st = await stat(target).catch(() => null);
  if (st && !st.isDirectory()) fail(`${target} is a file, not a folder`);
  // The nearest path above dir that exists must be a folder, not a file that dir would be under.
  let above = parent;
  while (!(await exists(above)) && dirname(above) !== above) above = dirname(above);
  if (!(await isDir(above))) fail(`${above} is a file, not a folder`);
  let made: string | undefined;
  try {
    made = await step(`the folder ${parent} cannot be made`, () => mkdir(parent, { recursive: true }));
    const probe = strayName(target, 'tmp');
    await step(`no folder can be made in ${parent}`, () => mkdir(probe));
    await rm(probe, { recursive: true, force: true });
    if (st) {
      const file = join(target, `.probe.tmp-${process.pid}-${suffix()}`);
      await step(`no file can be made in ${target}`, () => writeSynced(file, new Uint8Array(1)));
      await rm(file, { force: true });
    }
  } finally {
    if (made) await rm(made, { recursive: true, force: true });
  }
}

/**
 * Write `files` (name → bytes) as the folder dir, creating it (and its parents) if needed. The
 * folder is replaced as a whole: the files are written into a new sibling folder, which is then
 * swapped in for dir (dir is renamed aside to `.old-`, the new folder renamed to dir, the old one's
 * other entries moved over and the rest removed), so at any moment, a kill -9 included, dir holds
 * every one of the previous files or every one of the new ones, never a mix; recoverFolder (which
 * this runs first) finishes or undoes a swap that was cut short. Other entries of dir (files and
 * folders not among `files`, such as checkpoints) are kept. On an error nothing in dir changes.
 * See the comment at the top of this file.
 */
export async function writeFolderAtomic(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  const names = Object.keys(files);
  names.forEach(checkName);
  const target = await realpath(resolve(dir)).catch(() => resolve(dir));
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  await recoverFolder(target);
  const tmpDir = strayName(target, 'tmp');
  const old = strayName(target, 'old');
  let previous: Stats | null = null;
  try {
    // 1. write
    await mkdir(tmpDir);
    for (const name of names) await writeSynced(join(tmpDir, name), files[name]);
    // A folder in the way would be lost with the old contents: refuse it now.
    for (const name of names) {
      if (await isDir(join(target, name))) throw new Error(`writeFolderAtomic: ${join(target, name)} is a folder; it cannot be replaced by a file`);
    }
    previous = await stat(target).catch(() => null);
    await syncDir(tmpDir);
    // 2. swap: a new folder appears whole, in one rename; an existing one is moved aside first.
    if (!previous) {
      await rename(tmpDir, target);
      await syncDir(parent);
      return;
    }
    // Where dir cannot be renamed (a mount point; on Windows, a folder with an open file), or
    // its entries could not be moved out of it (a folder this user may not write), file by file.
    const writable = await access(target, constants.W_OK).then(() => true, () => false);
    try {
      if (!writable) throw new Error('not writable');
      await rename(target, old);
    } catch {
      return await replaceFileByFile(target, tmpDir, names);
    }
    try {
      await rename(tmpDir, target);
    } catch (e) {
      await rename(old, target);
      throw e;
    }
  } catch (e) {
    await rm(tmpDir, { recursive: true, force: true });
    throw e;
  }
  await syncDir(parent);
  // 3. the previous folder's other entries move into the new one; what is left of it goes.
  try {
    await carryOver(old, target);
  } catch (e) {
    throw new Error(`writeFolderAtomic: ${target} holds the new files, but moving the previous folder's other entries from ${old} failed (the next write, or recoverFolder, finishes it): ${(e as Error).message}`);
  }
  await chmod(target, previous.mode & 0o7777).catch(() => {}); // the previous folder's permissions
  await syncDir(target);
  await rm(old, { recursive: true, force: true });
}

/**
 * The fallback for a folder that cannot be renamed: each file of tmpDir is renamed into dir under
 * a temporary name, then each over its real name (each file is atomic, the folder is not).
 */
async function replaceFileByFile(target: string, tmpDir: string, names: string[]): Promise<void> {
  const staged: Array<{ from: string; to: string }> = [];
  try {
    for (const name of names) {
      const to = join(target, `.${name}.tmp-${process.pid}-${suffix()}`);
      await rename(join(tmpDir, name), to);
      staged.push({ from: to, to: join(target, name) });
    }
  } catch (e) {
    await Promise.all(staged.map((s) => rm(s.from, { force: true })));
    throw e;
  }
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
