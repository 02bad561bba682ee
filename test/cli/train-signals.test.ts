// Signals to `webgpu-lora train`, as a user (or a service manager, or an npx that is stopped) sends
// them to the pid they started. On a machine without a GPU that pid re-runs itself on SwiftShader
// (src/cli/common.ts deviceOrRerun), so the test checks that the signal reaches the process that
// trains: SIGTERM to the started pid stops training after the current step with a checkpoint and
// exit code 130, and nothing keeps running; after SIGKILL of the started pid, the re-run notices
// and stops the same way, rather than training on, orphaned, and writing its output later.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from '../setup/dist.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { processesWith, until } from './processes.js';


const root = join(import.meta.dirname, '..', '..');
const BIN = join(root, 'bin', 'webgpu-lora.js');

/** Starts a long training run through the binary, without the SwiftShader variables (so it re-runs itself there). */
function startTraining(out: string): { proc: ChildProcess; output: () => string; exit: Promise<number | null> } {
  ensureBuilt('cli');
  const data = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-signal-data-')), 'pairs.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ input: `Who is ${i}?`, output: `Tom is ${i}.` })).join('\n'));
  const env = { ...process.env };
  for (const k of ['VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', 'XDG_RUNTIME_DIR']) delete env[k];
  const args = ['train', '--model', join(SHARED_DIR!, 'models', 'stories260K'), '--data', data, '--out', out, '--max-steps', '100000', '--batch-size', '1', '--val-split', '0'];
  const proc = spawn(BIN, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout!.on('data', (b) => (text += b));
  proc.stderr!.on('data', (b) => (text += b));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output: () => text, exit };
}

describe.skipIf(!SHARED_DIR)(`webgpu-lora train stops on signals to its pid${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('SIGTERM: a checkpoint after the current step, exit 130, no process left', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-sigterm-')), 'adapter');
    const run = startTraining(out);
    await until('the first steps', () => /step\s+\d+/.test(run.output()), 90_000);
    expect(processesWith(out).length, 'the started process and its SwiftShader re-run').toBe(2);
    run.proc.kill('SIGTERM');
    expect(await run.exit, run.output()).toBe(130);
    expect(run.output()).toMatch(/SIGTERM: stopping after the current step/);
    const resume = /continue with --resume (\S+)/.exec(run.output());
    expect(resume, run.output()).not.toBeNull();
    expect(existsSync(join(resume![1], 'trainer_state.json'))).toBe(true);
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(false);
    await until('no process of the run', () => processesWith(out).length === 0, 5_000);
  }, 150_000);

  it('SIGKILL of the started pid: the re-run stops by itself with a checkpoint', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-sigkill-')), 'adapter');
    const run = startTraining(out);
    await until('the first steps', () => /step\s+\d+/.test(run.output()), 90_000);
    run.proc.kill('SIGKILL');
    await until('the orphaned re-run to stop', () => processesWith(out).length === 0, 30_000);
    expect(run.output()).toMatch(/SIGTERM: stopping after the current step/);
    expect(run.output()).toMatch(/continue with --resume/);
    expect(readdirSync(out).filter((f) => f.startsWith('checkpoint-'))).toHaveLength(1);
  }, 150_000);
});
