// writeFolderAtomic (src/io/atomic-node.ts) under kill -9: a child process writes a folder and is
// killed before each of its file-system calls in turn; whatever the moment, the folder then holds
// every previous file or every new one (or is missing, with the previous folder whole beside it),
// and recoverFolder (what the next run does first) leaves the previous or the new folder, with its
// other entries and no temporaries. Also: what recoverFolder leaves to a live process, the
// file-by-file fallback for a folder that cannot be renamed, and checkFolderWritable's errors.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { transformWithOxc } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFolderWritable, recoverFolder } from '../../src/io/atomic-node.js';

const SOURCE = join(import.meta.dirname, '..', '..', 'src', 'io', 'atomic-node.ts');
const root = mkdtempSync(join(tmpdir(), 'atomic-folder-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// The child: atomic-node.ts compiled to plain JavaScript (Vite's own TypeScript transform) (it imports only Node's own modules), and
// a script that wraps the fs/promises calls that change the disk so that the KILL_AT-th of them
// kills the process first (SIGKILL, as kill -9 does), and a rename of BUSY fails with EBUSY (as a
// mount point does). It prints how many such calls the write made.
const CHILD = `
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
const killAt = Number(process.env.KILL_AT ?? 0);
let calls = 0;
for (const name of ['mkdir', 'open', 'chmod', 'rename', 'rm', 'unlink']) {
  const f = fsp[name];
  fsp[name] = async (...args) => {
    if (++calls === killAt) process.kill(process.pid, 'SIGKILL');
    if (name === 'rename' && args[0] === process.env.BUSY) throw Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
    return f(...args);
  };
}
syncBuiltinESMExports();
const { writeFolderAtomic } = await import('./atomic-node.mjs');
const files = Object.fromEntries(Object.entries(JSON.parse(process.env.FILES)).map(([k, v]) => [k, new TextEncoder().encode(v)]));
await writeFolderAtomic(process.env.DIR, files);
console.log('calls', calls);
`;
let childDir = '';
beforeAll(async () => {
  childDir = join(root, 'child');
  mkdirSync(childDir);
  const js = (await transformWithOxc(readFileSync(SOURCE, 'utf8'), SOURCE, { lang: 'ts' })).code;
  writeFileSync(join(childDir, 'atomic-node.mjs'), js);
  writeFileSync(join(childDir, 'child.mjs'), CHILD);
  chmodSync(root, 0o755); // mkdtemp makes it 0700; the read-only check below runs a child as another user
});

/** Run the child on `dir`; how it ended, and how many calls it made. Runs of separate folders may overlap. */
function writeInChild(dir: string, files: Record<string, string>, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(childDir, 'child.mjs')], { env: { ...process.env, DIR: dir, FILES: JSON.stringify(files), ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => (stdout += b));
  child.stderr.on('data', (b) => (stderr += b));
  return new Promise<{ killed: boolean; status: number | null; calls: number; stderr: string }>((done) => {
    child.on('close', (status, signal) => done({ killed: signal === 'SIGKILL', status, calls: Number(/calls (\d+)/.exec(stdout)?.[1] ?? -1), stderr }));
  });
}

const OLD = { 'adapter_config.json': 'old config', 'adapter_model.safetensors': 'old weights' };
const NEW = { 'adapter_config.json': 'new config', 'adapter_model.safetensors': 'new weights' };
const NAMES = Object.keys(NEW);

/** 'old' or 'new' if `dir` holds every file of that version; what it holds otherwise. */
function version(dir: string): string {
  const got = NAMES.map((n) => (existsSync(join(dir, n)) ? readFileSync(join(dir, n), 'utf8') : '-'));
  if (got.every((g, i) => g === Object.values(OLD)[i])) return 'old';
  if (got.every((g, i) => g === Object.values(NEW)[i])) return 'new';
  return `a mix: ${got.join(', ')}`;
}

/** A folder with the previous adapter and two entries the write does not replace. */
function previousFolder(dir: string): void {
  mkdirSync(join(dir, 'checkpoint-1'), { recursive: true });
  for (const [n, text] of Object.entries(OLD)) writeFileSync(join(dir, n), text);
  writeFileSync(join(dir, 'checkpoint-1', 'state'), 'checkpoint');
  writeFileSync(join(dir, 'README.md'), 'keep me');
}

describe('writeFolderAtomic, killed (SIGKILL) before each of its file-system calls', () => {
  for (const existing of [true, false]) {
    it(`${existing ? 'replacing an existing folder' : 'making a new folder'}: old or new whole, then recovered with no temporaries`, async () => {
      const base = join(root, existing ? 'replace' : 'create');
      // A run that is not killed: how many calls a whole write makes.
      mkdirSync(join(base, 'count'), { recursive: true });
      if (existing) previousFolder(join(base, 'count', 'out'));
      const whole = await writeInChild(join(base, 'count', 'out'), NEW);
      expect(whole.status, whole.stderr).toBe(0);
      expect(whole.calls).toBeGreaterThan(3);
      // One folder per moment, each killed there; the children run side by side.
      const ks = Array.from({ length: whole.calls }, (_, i) => i + 1);
      const runs = await Promise.all(ks.map((k) => {
        const out = join(base, `kill-${k}`, 'out');
        mkdirSync(dirname(out), { recursive: true });
        if (existing) previousFolder(out);
        return writeInChild(out, NEW, { KILL_AT: String(k) });
      }));
      const seen = new Set<string>();
      for (const k of ks) {
        const parent = join(base, `kill-${k}`);
        const out = join(parent, 'out');
        const r = runs[k - 1];
        expect(r.killed, `kill at call ${k}: ${r.stderr}`).toBe(true);
        // At the moment of the kill: dir is the old or the new version, or missing with the old one aside.
        const aside = readdirSync(parent).filter((n) => n.startsWith('out.old-'));
        if (existsSync(out)) expect(version(out), `kill at call ${k}`).toMatch(existing ? /^(old|new)$/ : /^new$/);
        else if (existing) expect(aside.map((n) => version(join(parent, n))), `kill at call ${k}`).toEqual(['old']);
        // The next run's start puts it in order.
        await recoverFolder(out);
        expect(readdirSync(parent), `kill at call ${k}`).toEqual(existing || existsSync(out) ? ['out'] : []);
        if (!existing) continue;
        const v = version(out);
        seen.add(v);
        expect(v, `kill at call ${k}`).toMatch(/^(old|new)$/);
        expect(readFileSync(join(out, 'README.md'), 'utf8')).toBe('keep me');
        expect(readFileSync(join(out, 'checkpoint-1', 'state'), 'utf8')).toBe('checkpoint');
        expect(readdirSync(out).sort()).toEqual(['README.md', ...NAMES, 'checkpoint-1'].sort());
      }
      if (existing) expect([...seen].sort()).toEqual(['new', 'old']); // kills fell on both sides of the swap
    });
  }
});

describe('recoverFolder', () => {
  it("removes what ended processes left and leaves a live process's temporaries alone", async () => {
    const parent = join(root, 'live');
    mkdirSync(join(parent, 'out'), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // a process that has ended
    const mine = `out.tmp-${process.pid}-0123456789ab`;
    for (const n of [mine, `out.tmp-${dead}-0123456789ab`, 'out.tmp-0123456789ab', 'out.tmp-notours', 'outer.tmp-1-0123456789ab']) mkdirSync(join(parent, n));
    await recoverFolder(join(parent, 'out'));
    expect(readdirSync(parent).sort()).toEqual(['out', mine, 'out.tmp-notours', 'outer.tmp-1-0123456789ab'].sort());
  });
});

describe('writeFolderAtomic where the folder cannot be renamed (EBUSY: a mount point)', () => {
  it('replaces the files one by one, keeps the other entries and leaves no temporaries', async () => {
    const parent = join(root, 'busy');
    const out = join(parent, 'out');
    previousFolder(out);
    const r = await writeInChild(out, NEW, { BUSY: out });
    expect(r.status, r.stderr).toBe(0);
    expect(version(out)).toBe('new');
    expect(readdirSync(out).sort()).toEqual(['README.md', ...NAMES, 'checkpoint-1'].sort());
    expect(readdirSync(parent)).toEqual(['out']);
  });
});

describe('checkFolderWritable', () => {
  it('passes a new folder under missing parents (and removes the parents it made) and an existing folder', async () => {
    const parent = join(root, 'ok');
    mkdirSync(join(parent, 'existing'), { recursive: true });
    await checkFolderWritable(join(parent, 'a', 'b', 'out'));
    await checkFolderWritable(join(parent, 'existing'));
    expect(readdirSync(parent)).toEqual(['existing']);
    expect(readdirSync(join(parent, 'existing'))).toEqual([]);
  });

  it('names the path at fault: a file, a path under a file, /proc', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    await expect(checkFolderWritable(file, '--out')).rejects.toThrow(`--out cannot be written: ${file} is a file, not a folder`);
    await expect(checkFolderWritable(join(file, 'x', 'out'), '--out')).rejects.toThrow(`--out cannot be written: ${file} is a file, not a folder`);
    await expect(checkFolderWritable('/proc/webgpu-lora-out')).rejects.toThrow(/'\/proc\/webgpu-lora-out' cannot be written: no folder can be made in \/proc \(ENOENT/);
    await expect(checkFolderWritable('/proc/self')).rejects.toThrow(/cannot be written: no folder can be made in \/proc \(ENOENT/);
  });

  it('names a read-only folder (as an ordinary user: chmod does not stop root)', () => {
    const parent = join(root, 'read-only');
    mkdirSync(join(parent, 'out'), { recursive: true });
    chmodSync(parent, 0o555);
    chmodSync(join(parent, 'out'), 0o555);
    // A read-only folder in a folder that the user may write.
    const writable = join(root, 'writable');
    mkdirSync(join(writable, 'out'), { recursive: true });
    chmodSync(join(writable, 'out'), 0o555);
    // Run as the user nobody (who then owns the writable folder) when this is root, as this user otherwise.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) for (const d of [writable, join(writable, 'out')]) chownSync(d, 65534, 65534);
    const script = `import('${join(childDir, 'atomic-node.mjs')}').then((m) => Promise.all(process.argv.slice(1).map((d) => m.checkFolderWritable(d).then(() => 'written', (e) => e.message)))).then((r) => console.log(JSON.stringify(r)))`;
    const dirs = [join(parent, 'out'), join(parent, 'new'), join(writable, 'out')];
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...dirs], { encoding: 'utf8', ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
    expect(r.status, r.stderr).toBe(0);
    const [existing, fresh, inside] = JSON.parse(r.stdout) as string[];
    expect(existing).toMatch(new RegExp(`cannot be written: no folder can be made in ${parent} \\(EACCES`));
    expect(fresh).toMatch(new RegExp(`cannot be written: no folder can be made in ${parent} \\(EACCES`));
    expect(inside).toMatch(new RegExp(`cannot be written: no file can be made in ${join(writable, 'out')} \\(EACCES`));
    expect(readdirSync(parent)).toEqual(['out']);
    expect(readdirSync(writable)).toEqual(['out']);
  });
});
