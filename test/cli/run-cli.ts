// Running the CLI for CLI tests: as a user does (the shipped binary, bin/webgpu-lora.js, on the
// built dist/cli, rebuilt first whenever its sources changed since it was built), or in this
// process (src/cli's main() itself, with its output captured) for the checks where a subprocess
// adds nothing. Each test file runs each command it tests through the binary at least once.
import { spawnSync } from 'node:child_process';
import { Console } from 'node:console';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ensureBuilt } from '../setup/dist.js';

const root = join(import.meta.dirname, '..', '..');
/** package.json's "bin": the file that `npx webgpu-lora` and an installed `webgpu-lora` run. */
const BIN = join(root, (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['webgpu-lora']);

/**
 * Run the binary with the machine's own environment: no SwiftShader variables, so on a machine
 * without a GPU the CLI must find SwiftShader by itself. `via: 'bin'` (the default) executes
 * package.json's bin file as npm's bin link does (its `#!/usr/bin/env node` line); `via: 'npx'`
 * goes through `npx --no-install webgpu-lora` in the repository, which finds that file by
 * itself and costs about a second more.
 */
export function cli(args: string[], timeout = 120_000, via: 'bin' | 'npx' = 'bin') {
  ensureBuilt('cli');
  const env = { ...process.env };
  for (const k of ['VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', 'XDG_RUNTIME_DIR']) delete env[k];
  const [file, argv] = via === 'npx' ? ['npx', ['--no-install', 'webgpu-lora', ...args]] : [BIN, args];
  return spawnSync(file, argv, { cwd: root, env, encoding: 'utf8', timeout });
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** What process.exit() throws while main() runs in this process: the process would end here. */
class Exit extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

/** The process-wide state that a run of main() may change, and that is put back after it. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'beforeExit', 'exit', 'uncaughtException', 'unhandledRejection'] as const;

let running: Promise<unknown> = Promise.resolve();

/**
 * Run `webgpu-lora <args>` in this process: src/cli/main.ts's main(), what the binary runs, in the
 * repository root, with everything it writes to stdout and stderr (console included) captured
 * instead, and what the binary's exit status would be: main()'s return value; the code of a
 * process.exit() call (after which nothing more is captured, as the process would have ended);
 * or 1 with the error's stack when main() itself throws, as Node does for an uncaught error.
 * Neither stream is a TTY, as with the binary under spawnSync. The process's GPU environment is
 * the tests' (vite.config.ts's SwiftShader where there is no GPU), and WEBGPU_LORA_SWIFTSHADER is
 * set so that main() never re-runs itself in a child process as the binary does without a GPU
 * adapter. Afterwards the working folder, the environment, process.exitCode, process.exit, the
 * streams, the console and the process's signal listeners are as they were, whatever happened;
 * runs in one process take turns.
 */
export function cliInProcess(args: string[]): Promise<CliResult> {
  const run = running.then(() => runInProcess(args));
  running = run.catch(() => undefined);
  return run;
}

async function runInProcess(args: string[]): Promise<CliResult> {
  const { main } = await import('../../src/cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  let exited: number | null = null;
  const capture = (into: string[]) => (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (exited === null) {
      const enc = typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8';
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(enc));
    }
    if (typeof cb === 'function') process.nextTick(cb as () => void);
    return true;
  };
  const stream = (into: string[]) => new Writable({ write: (chunk, encoding, cb) => void capture(into)(chunk, encoding, cb) });

  const tty = (s: NodeJS.WriteStream) => ({ isTTY: Object.getOwnPropertyDescriptor(s, 'isTTY'), columns: Object.getOwnPropertyDescriptor(s, 'columns') });
  const saved = {
    stdoutWrite: process.stdout.write,
    stderrWrite: process.stderr.write,
    stdoutTty: tty(process.stdout),
    stderrTty: tty(process.stderr),
    console: globalThis.console,
    exit: process.exit,
    exitCode: process.exitCode,
    cwd: process.cwd(),
    env: { ...process.env },
    listeners: new Map(SIGNALS.map((s) => [s, process.listeners(s)])),
  };
  process.stdout.write = capture(out) as typeof process.stdout.write;
  process.stderr.write = capture(err) as typeof process.stderr.write;
  for (const s of [process.stdout, process.stderr]) {
    for (const p of ['isTTY', 'columns']) Object.defineProperty(s, p, { value: undefined, configurable: true, writable: true });
  }
  globalThis.console = new Console({ stdout: stream(out), stderr: stream(err) });
  process.exit = ((code?: number | string | null) => {
    exited ??= Number(code ?? process.exitCode ?? 0);
    throw new Exit(exited);
  }) as typeof process.exit;
  process.env.WEBGPU_LORA_SWIFTSHADER = '1';
  process.chdir(root);
  try {
    let status: number;
    try {
      status = await main(args);
    } catch (e) {
      if (exited === null) err.push(`${(e as Error)?.stack ?? String(e)}\n`);
      status = exited ?? 1;
    }
    return { status: exited ?? status, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = saved.stdoutWrite;
    process.stderr.write = saved.stderrWrite;
    for (const [s, t] of [[process.stdout, saved.stdoutTty], [process.stderr, saved.stderrTty]] as const) {
      for (const p of ['isTTY', 'columns'] as const) {
        if (t[p]) Object.defineProperty(s, p, t[p]);
        else delete (s as unknown as Record<string, unknown>)[p];
      }
    }
    globalThis.console = saved.console;
    process.exit = saved.exit;
    process.exitCode = saved.exitCode;
    process.chdir(saved.cwd);
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
    for (const [s, before] of saved.listeners) {
      for (const l of process.listeners(s)) if (!before.includes(l)) process.removeListener(s, l);
    }
  }
}
