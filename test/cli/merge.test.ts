// `webgpu-lora merge`: the golden stories260K adapter merged into its base model gives a complete
// model folder that `generate` loads, and whose greedy output equals the unmerged adapter's. The
// merge runs the binary (bin/webgpu-lora.js); the generations and the failures run main() in this process.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli, cliInProcess } from './run-cli.js';

const MODEL = join(SHARED_DIR ?? '', 'models', 'stories260K');
const ADAPTER = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');
const OTHER_ADAPTER = join(SHARED_DIR ?? '', 'golden', 'qwen2-attn');

describe.skipIf(!SHARED_DIR)(`webgpu-lora merge${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'webgpu-lora-merge-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes a model folder whose greedy output equals generating with the unmerged adapter', async () => {
    const out = join(tmp, 'merged');
    const m = cli(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', out]);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/^merged 35 LoRA modules \(r 4\) into .*stories260K; wrote .*merged:$/m);
    expect(m.stdout).toMatch(/^ {2}model\.safetensors \(\d+(\.\d)? (B|KiB|MiB)\)$/m);
    const files = readdirSync(out).sort();
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json']) {
      expect(files).toContain(f);
      expect(m.stdout).toContain(`  ${f} (`);
    }
    expect(files.some((f) => f.includes('.tmp-')), 'no temporary files left').toBe(false);

    for (const prompt of ['Once upon a time', 'The dog']) {
      const args = ['--prompt', prompt, '--max-new-tokens', '30'];
      const merged = await cliInProcess(['generate', '--model', out, ...args]);
      const adapted = await cliInProcess(['generate', '--model', MODEL, '--adapter', ADAPTER, ...args]);
      const base = await cliInProcess(['generate', '--model', MODEL, ...args]);
      for (const r of [merged, adapted, base]) expect(r.status, r.stderr).toBe(0);
      expect(merged.stdout).toBe(adapted.stdout);
      expect(merged.stdout).not.toBe(base.stdout);
    }
  });

  it('an adapter for another model fails and writes nothing', async () => {
    const out = join(tmp, 'wrong');
    const r = await cliInProcess(['merge', '--model', MODEL, '--adapter', OTHER_ADAPTER, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the adapter .*qwen2-attn cannot be used with the model .*stories260K/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses to write over the model folder, and missing options are usage errors', async () => {
    const same = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', MODEL]);
    expect(same.status).toBe(2);
    expect(same.stderr).toMatch(/--out must be a new folder, not the --model folder/);
    const noOut = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER]);
    expect(noOut.status).toBe(2);
    expect(noOut.stderr).toMatch(/merge needs --out <dir>/);
  });
});
