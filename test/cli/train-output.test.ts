// webgpu-lora train's --out, checked before anything is trained: a folder that cannot be written
// (a path under a file, /proc) and a folder that already holds an adapter (kept unless
// --overwrite) are clear errors naming --out, with exit code 1 and nothing trained; what a killed
// run left beside --out is put back in order at the start; --overwrite replaces the adapter and
// keeps the folder's other files. (A read-only folder is checked in test/io/atomic-folder.test.ts,
// as an ordinary user: these tests run as root here, whom chmod does not stop.)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cliInProcess } from './run-cli.js';

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `webgpu-lora-${prefix}-`));

describe.skipIf(!SHARED_DIR)(`webgpu-lora train --out${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const model = join(SHARED_DIR ?? '', 'models', 'stories260K');
  const data = join(tmp('out-data'), 'pairs.jsonl');
  writeFileSync(data, ['{"input": "Who is Tom?", "output": "Tom is a boy."}', '{"input": "Who is Lily?", "output": "Lily is a girl."}'].join('\n'));
  const train = (out: string, ...extra: string[]) =>
    cliInProcess(['train', '--model', model, '--data', data, '--out', out, '--max-steps', '1', '--batch-size', '1', '--val-split', '0', '--rank', '2', ...extra]);
  /** That nothing was trained: the run never reached the line that starts training. */
  const untrained = (r: { stdout: string; stderr: string }) => expect(`${r.stdout}${r.stderr}`).not.toMatch(/training and \d+ validation examples|step\s+1/);

  it('a path under a file, and /proc: exit 1 before training, naming the path', async () => {
    const file = join(tmp('out-file'), 'notes.txt');
    writeFileSync(file, 'not a folder');
    const under = await train(join(file, 'runs', 'adapter'));
    expect(under.status, under.stderr).toBe(1);
    expect(under.stderr).toContain(`webgpu-lora: --out '${join(file, 'runs', 'adapter')}' cannot be written: ${file} is a file, not a folder`);
    untrained(under);
    const proc = await train('/proc/webgpu-lora-adapter');
    expect(proc.status, proc.stderr).toBe(1);
    expect(proc.stderr).toMatch(/--out '\/proc\/webgpu-lora-adapter' cannot be written: no folder can be made in \/proc \(ENOENT/);
    untrained(proc);
  });

  it('an existing adapter is kept unless --overwrite; --overwrite replaces it and keeps the other files', async () => {
    const out = join(tmp('out-existing'), 'adapter');
    mkdirSync(out);
    writeFileSync(join(out, 'adapter_config.json'), 'old config');
    writeFileSync(join(out, 'adapter_model.safetensors'), 'old weights');
    writeFileSync(join(out, 'README.md'), 'my notes');
    const kept = await train(out);
    expect(kept.status, kept.stderr).toBe(1);
    expect(kept.stderr).toContain(`--out '${out}' already holds an adapter (adapter_config.json, adapter_model.safetensors); give --overwrite to replace it, or another --out`);
    untrained(kept);
    expect(readFileSync(join(out, 'adapter_model.safetensors'), 'utf8')).toBe('old weights');

    const replaced = await train(out, '--overwrite');
    expect(replaced.status, replaced.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).r).toBe(2);
    expect(readFileSync(join(out, 'adapter_model.safetensors')).length).toBeGreaterThan(100);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toBe('my notes');
    expect(readdirSync(join(out, '..'))).toEqual(['adapter']);
  }, 120_000);

  it("puts back the previous folder that a killed write left aside, and removes its temporaries, before anything else", async () => {
    const parent = tmp('out-killed');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // the pid of a process that has ended
    const aside = join(parent, `adapter.old-${dead}-0123456789ab`);
    mkdirSync(aside);
    writeFileSync(join(aside, 'adapter_config.json'), 'old config');
    writeFileSync(join(aside, 'adapter_model.safetensors'), 'old weights');
    mkdirSync(join(parent, `adapter.tmp-${dead}-0123456789ab`));
    const r = await train(join(parent, 'adapter'));
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/already holds an adapter/);
    expect(readdirSync(parent)).toEqual(['adapter']);
    expect(readFileSync(join(parent, 'adapter', 'adapter_model.safetensors'), 'utf8')).toBe('old weights');
  });
});

describe.skipIf(!SHARED_DIR)(`webgpu-lora merge --out${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('a path under a file: exit 1 before merging, naming the path', async () => {
    const file = join(tmp('merge-file'), 'notes.txt');
    writeFileSync(file, 'not a folder');
    const out = join(file, 'merged');
    const r = await cliInProcess(['merge', '--model', join(SHARED_DIR!, 'models', 'stories260K'), '--adapter', join(SHARED_DIR!, 'golden', 'stories260K-all-linear'), '--out', out]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`webgpu-lora: --out '${out}' cannot be written: ${file} is a file, not a folder`);
    expect(r.stdout).not.toMatch(/merged/);
  });
});
