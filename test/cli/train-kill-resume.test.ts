// kill -9 of `webgpu-lora train` at several points (the started process and its SwiftShader
// re-run, both at once: nothing gets to checkpoint or clean up): at the first step, and after its
// second and third checkpoints. The killed run leaves no adapter in --out; a new run (killed before
// any checkpoint) or --resume from the last checkpoint it wrote ends with the adapter of an
// uninterrupted run, byte for byte, and no temporary folder is left. (Kills during the final
// write itself: test/io/atomic-folder.test.ts, which kills before each of its file operations.)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from '../setup/dist.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli } from './run-cli.js';
import { processesWith, until } from './processes.js';

const root = join(import.meta.dirname, '..', '..');
const BIN = join(root, 'bin', 'webgpu-lora.js');

describe.skipIf(!SHARED_DIR)(`webgpu-lora train killed with SIGKILL, then resumed${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('resumes from the last checkpoint to the adapter of an uninterrupted run', async () => {
    ensureBuilt('cli');
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-kill-'));
    const data = join(dir, 'pairs.jsonl');
    writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ input: `Who is ${i}?`, output: `Tom is ${i}.` })).join('\n'));
    const files = (out: string) => ['train', '--model', join(SHARED_DIR!, 'models', 'stories260K'), '--data', data, '--out', out];
    const args = (out: string) => [...files(out), '--max-steps', '12', '--batch-size', '1', '--val-split', '0', '--checkpoint-every', '3'];
    const adapterBytes = (out: string) => readFileSync(join(out, 'adapter_model.safetensors'));

    const whole = join(dir, 'whole');
    const w = cli(args(whole), 300_000);
    expect(w.status, w.stderr).toBe(0);

    // The same run, killed -9 (every process of it) once `marker` is printed: what it leaves.
    const killAfter = async (out: string, marker: RegExp) => {
      const env = { ...process.env };
      for (const k of ['VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', 'XDG_RUNTIME_DIR']) delete env[k];
      const proc = spawn(BIN, args(out), { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      proc.stdout.on('data', (b) => (output += b));
      proc.stderr.on('data', (b) => (output += b));
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      await until(String(marker), () => marker.test(output), 240_000);
      for (const pid of processesWith(out)) process.kill(pid, 'SIGKILL');
      await exited;
      await until('no process of the killed run', () => processesWith(out).length === 0, 10_000);
      expect(output).not.toMatch(/step\s+12\/12/);
      expect(existsSync(join(out, 'adapter_model.safetensors')), 'no adapter from the killed run').toBe(false);
      return existsSync(out) ? readdirSync(out).filter((f) => f.startsWith('checkpoint-')) : [];
    };
    const noTemporaryFolders = (out: string) => {
      expect(readdirSync(dir).filter((f) => f.includes('.tmp-')), 'temporary folders beside --out').toEqual([]);
      expect(readdirSync(out).filter((f) => f.includes('.tmp-')), 'temporary folders in --out').toEqual([]);
    };

    // Killed at the first step, before any checkpoint: a new run into the same --out writes the whole adapter.
    const early = join(dir, 'early');
    expect(await killAfter(early, /step\s+1\/12/)).toEqual([]);
    const again = cli(args(early), 300_000);
    expect(again.status, again.stderr).toBe(0);
    expect(adapterBytes(early).equals(adapterBytes(whole))).toBe(true);
    noTemporaryFolders(early);

    // Killed after its second and after its third checkpoint; resumed into the same --out from the
    // last one it wrote: the uninterrupted run's adapter, and nothing half-written beside it.
    for (const step of [6, 9]) {
      const killed = join(dir, `killed-${step}`);
      const left = (await killAfter(killed, new RegExp(`checkpoint written to \\S*checkpoint-${step}`))).sort((x, y) => Number(x.split('-')[1]) - Number(y.split('-')[1]));
      expect(left.slice(0, step / 3)).toEqual(Array.from({ length: step / 3 }, (_, k) => `checkpoint-${3 * (k + 1)}`));
      const last = left[left.length - 1];
      const r = cli([...files(killed), '--resume', join(killed, last)], 300_000);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`resuming after step ${last.slice('checkpoint-'.length)}`));
      expect(adapterBytes(killed).equals(adapterBytes(whole)), `resumed from ${last}: the uninterrupted adapter`).toBe(true);
      expect(readFileSync(join(killed, 'adapter_config.json'), 'utf8')).toBe(readFileSync(join(whole, 'adapter_config.json'), 'utf8'));
      noTemporaryFolders(killed);
    }
  }, 600_000);
});
