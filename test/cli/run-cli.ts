// Running the built CLI as a user does (`npx webgpu-lora ...` in the repository), for CLI tests.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** Run the CLI with the machine's own environment: no SwiftShader variables, so on a machine
 *  without a GPU the CLI must find SwiftShader by itself. */
export function cli(args: string[], timeout = 120_000) {
  const env = { ...process.env };
  for (const k of ['VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', 'XDG_RUNTIME_DIR']) delete env[k];
  return spawnSync('npx', ['--no-install', 'webgpu-lora', ...args], { cwd: root, env, encoding: 'utf8', timeout });
}
