// dist/ as the tests need it. Each bundle that a test runs (the CLI that test/cli runs as the
// binary, bin/webgpu-lora.js; the benchmark that test/bench runs; the demo and the widget that the
// e2e tests serve) is rebuilt before it is used whenever the files it is built from are not those
// of its last build, so no test runs a stale dist/, whatever was edited since `npm ci` or
// `npm run build`. `npm test` therefore builds nothing up front: each bundle is built by the
// first test that needs it, once, and only when its sources changed.
//
// "The files it is built from" are whole folders (src/, shaders/, ...), its Vite config and the
// package files, compared by content: a SHA-256 over every path and its bytes, recorded in
// <outDir>/.sources.json with the files the build wrote (a folder whose record is missing, whose
// files are missing, or that `npm run build:*` emptied and rebuilt without one, is rebuilt once).
// A build writes to a temporary folder beside the output, whose files are then renamed into place
// one at a time (a rename is atomic), so a process that runs the previous build meanwhile (another
// test file, or another test run in this working tree) reads the old file or the new one, never
// half of one. A lock folder makes the test processes that find the same bundle stale at the same
// time build it once: the first builds, the others wait and then find it built.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const DIST = join(ROOT, 'dist');
const VITE = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
const RECORD = '.sources.json';
const PACKAGE = ['package.json', 'package-lock.json', 'tsconfig.json'];

/** Each bundle: its Vite config, its output folder (dist/<name>) and what it is built from (paths from the root). */
export const BUNDLES = {
  cli: { config: 'vite.cli.config.ts', outDir: 'dist/cli', from: ['src', 'shaders', ...PACKAGE] },
  bench: { config: 'vite.bench.config.ts', outDir: 'dist/bench', from: ['src', 'shaders', 'bench', ...PACKAGE] },
  demo: { config: 'vite.demo.config.ts', outDir: 'dist/demo', from: ['src', 'shaders', 'workers', 'demo', ...PACKAGE] },
  widget: { config: 'vite.widget.config.ts', outDir: 'dist/widget', from: ['src', 'shaders', 'workers', 'demo', ...PACKAGE] },
} as const;
export type Bundle = keyof typeof BUNDLES;

/** Every file under `dir` (a path from `base`), as paths from `base`, sorted. */
function filesUnder(base: string, dir: string): string[] {
  const full = join(base, dir);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [dir];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .map((f) => (dir === '' ? f : join(dir, f)))
    .filter((f) => statSync(join(base, f)).isFile())
    .sort();
}

/** The SHA-256 of the bundle's sources: every file's path and bytes, in a fixed order. */
export function sourcesHash(name: Bundle): string {
  const { config, from } = BUNDLES[name];
  const hash = createHash('sha256');
  for (const f of [config, ...from].flatMap((p) => filesUnder(ROOT, p))) {
    hash.update(`${f}\0`);
    hash.update(readFileSync(join(ROOT, f)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** Whether the bundle in dist/ was built from sources with this hash and all its files are there. */
function isBuiltFrom(name: Bundle, sources: string): boolean {
  const out = join(ROOT, BUNDLES[name].outDir);
  try {
    const record = JSON.parse(readFileSync(join(out, RECORD), 'utf8')) as { sources: string; files: string[] };
    return record.sources === sources && record.files.length > 0 && record.files.every((f) => existsSync(join(out, f)));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** A lock is stale when the process that took it is gone, or it is older than any build takes. */
function isStale(lock: string): boolean {
  try {
    const age = Date.now() - statSync(lock).mtimeMs;
    if (age > 600_000) return true;
    const pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    process.kill(pid, 0);
    return false;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return true; // its process is gone
    if (code === 'ENOENT') return existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 30_000; // (no pid yet)
    return false; // EPERM: alive, someone else's
  }
}

function withLock(name: Bundle, fn: () => void): void {
  const lock = join(DIST, `.build-${name}.lock`);
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (isStale(lock)) rmSync(lock, { recursive: true, force: true });
    else sleep(200);
  }
  try {
    writeFileSync(join(lock, 'pid'), String(process.pid));
    fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The environment of a build: this process's, less what a test runner adds (NODE_ENV=test and
 * vitest's variables), so that the bundle is the one `npm run build:*` makes.
 */
function buildEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k === 'NODE_ENV' || k === 'TEST' || k.startsWith('VITEST')) delete env[k];
  return env;
}

/** `vite build` of the bundle into a temporary folder, whose files then replace those in dist/. */
function build(name: Bundle, sources: string): void {
  const { config, outDir } = BUNDLES[name];
  const out = join(ROOT, outDir);
  const started = Date.now();
  // Beside the output (dist/<tmp>: the same depth, so relative paths in source maps come out the same).
  const tmp = mkdtempSync(join(DIST, `.build-${name}-`));
  try {
    const args = [VITE, 'build', '--config', join(ROOT, config), '--outDir', tmp, '--emptyOutDir', '--logLevel', 'warn'];
    const r = spawnSync(process.execPath, args, { cwd: ROOT, env: buildEnv(), encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      throw new Error(`building ${outDir} for the tests failed (vite build --config ${config}):\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ?? ''}`);
    }
    const files = filesUnder(tmp, '');
    if (files.length === 0) throw new Error(`building ${outDir} for the tests wrote no files`);
    rmSync(join(out, RECORD), { force: true }); // (the files are about to be of another build)
    for (const f of files) {
      mkdirSync(dirname(join(out, f)), { recursive: true });
      renameSync(join(tmp, f), join(out, f));
    }
    // What earlier builds left and this one did not write (old hashed demo assets), except what was
    // written during this build (vite.widget.config.ts copies its example files straight into dist/widget).
    for (const f of filesUnder(out, '')) {
      if (f !== RECORD && !files.includes(f) && statSync(join(out, f)).mtimeMs < started - 2000) rmSync(join(out, f), { force: true });
    }
    // The record, unless a source changed while Vite read them (then the bundle is of neither
    // version, and is rebuilt the next time it is needed).
    if (sourcesHash(name) !== sources) return;
    const record = join(out, `${RECORD}.tmp-${process.pid}`);
    const written = filesUnder(out, '').filter((f) => f !== RECORD && !f.startsWith(`${RECORD}.tmp-`));
    writeFileSync(record, `${JSON.stringify({ sources, files: written })}\n`);
    renameSync(record, join(out, RECORD));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const checked = new Map<Bundle, Error | null>();

/**
 * Builds dist/<name> unless it was built from the sources as they are now (checked once per
 * process: a test file). Throws with Vite's output when the build fails.
 */
export function ensureBuilt(name: Bundle): void {
  if (!checked.has(name)) {
    try {
      const sources = sourcesHash(name);
      if (!isBuiltFrom(name, sources)) {
        mkdirSync(DIST, { recursive: true });
        withLock(name, () => {
          const now = sourcesHash(name); // (they may have changed while this process waited)
          if (!isBuiltFrom(name, now)) build(name, now);
        });
      }
      checked.set(name, null);
    } catch (e) {
      checked.set(name, e as Error); // a failed build fails every test that needs it, without rebuilding for each
    }
  }
  const failed = checked.get(name);
  if (failed) throw failed;
}
