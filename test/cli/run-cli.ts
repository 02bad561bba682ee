// Running the CLI for CLI tests: as a user does (`npx webgpu-lora ...` in the repository: the built
// dist/cli, rebuilt first whenever src/ changed since it was built), or in this process (src/cli's
// main() itself, with its output captured) for the checks where a subprocess adds nothing.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { format } from 'node:util';
import { ensureBuilt } from '../setup/dist.js';

const root = join(import.meta.dirname, '..', '..');

/** Run the CLI with the machine's own environment: no SwiftShader variables, so on a machine
 *  without a GPU the CLI must find SwiftShader by itself. */
export function cli(args: string[], timeout = 120_000) {
  ensureBuilt('cli');
  const env = { ...process.env };
  for (const k of ['VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', 'XDG_RUNTIME_DIR']) delete env[k];
  return spawnSync('npx', ['--no-install', 'webgpu-lora', ...args], { cwd: root, env, encoding: 'utf8', timeout });
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `webgpu-lora <args>` in this process: src/cli/main.ts's main(), what the binary runs, in the
 * repository root, with everything it writes to stdout and stderr (console included) captured
 * instead, and its return value as the exit status. The process's GPU environment is the tests'
 * (vite.config.ts's SwiftShader where there is no GPU), and WEBGPU_LORA_SWIFTSHADER is set so that
 * main() never re-runs itself in a child process as the binary does without a GPU adapter.
 */
export async function cliInProcess(args: string[]): Promise<CliResult> {
  const { main } = await import('../../src/cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  const text = (chunk: unknown) => (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
  const saved = {
    stdout: process.stdout.write,
    stderr: process.stderr.write,
    console: { log: console.log, info: console.info, debug: console.debug, warn: console.warn, error: console.error },
    cwd: process.cwd(),
    rerun: process.env.WEBGPU_LORA_SWIFTSHADER,
  };
  process.stdout.write = ((chunk: unknown) => out.push(text(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => err.push(text(chunk)) > 0) as typeof process.stderr.write;
  console.log = console.info = console.debug = (...a: unknown[]) => void out.push(`${format(...a)}\n`);
  console.warn = console.error = (...a: unknown[]) => void err.push(`${format(...a)}\n`);
  process.env.WEBGPU_LORA_SWIFTSHADER = '1';
  if (saved.cwd !== root) process.chdir(root);
  try {
    const status = await main(args);
    return { status, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    Object.assign(console, saved.console);
    if (saved.rerun === undefined) delete process.env.WEBGPU_LORA_SWIFTSHADER;
    else process.env.WEBGPU_LORA_SWIFTSHADER = saved.rerun;
    if (process.cwd() !== saved.cwd) process.chdir(saved.cwd);
  }
}
