// The CLI as a user runs it: `npx webgpu-lora ...` in the repository after `npm ci` (which builds
// dist/cli through the `prepare` script; cli() rebuilds it first when its sources changed since),
// for info, and the binary itself (bin/webgpu-lora.js) for an unknown command and a greedy
// generation; the usage and model-file errors through main() in this process.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { folderSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli, cliInProcess } from './run-cli.js';
import { AFTER_ONCE_IDS } from '../stories-readme.js';

describe('webgpu-lora CLI', () => {
  it('info prints the adapter, its features and limits', () => {
    const r = cli(['info'], undefined, 'npx');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^adapter: /m);
    expect(r.stdout).toMatch(/features: shader-f16 (yes|no), subgroups (yes|no), timestamp-query (yes|no)/);
    expect(r.stdout).toMatch(/maxStorageBufferBindingSize: \d+ MiB/);
  });

  it('rejects an unknown command and a bad option with a usage message and exit code 2', async () => {
    const a = cli(['frobnicate']); // (the binary's exit status, once)
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/unknown command 'frobnicate'/);
    const b = await cliInProcess(['generate', '--model', 'x', '--prompt', 'y', '--temperature', 'hot']);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--temperature must be a number, got 'hot'/);
    const c = await cliInProcess(['generate', '--model', 'x', '--prompt', 'y', '--weights', 'bf16']);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/--weights must be f32, f16, nf4 or q8, got 'bf16'/);
    expect(c.stderr).toMatch(/\[--weights f32\|f16\|nf4\|q8\]/); // the usage text names it
  });

  it('reports a model folder that does not exist', async () => {
    const r = await cliInProcess(['generate', '--model', './no/such/model', '--prompt', 'hi']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no\/such\/model/);
  });

  describe.skipIf(!SHARED_DIR)(`with stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
    it('generate prints the greedy continuation of "Once upon a time"', async () => {
      const dir = join(SHARED_DIR!, 'models', 'stories260K');
      const r = cli(['generate', '--model', dir, '--prompt', 'Once upon a time', '--max-new-tokens', '40', '--temperature', '0']);
      expect(r.status, r.stderr).toBe(0);
      const tokenizer = await TextTokenizer.load(folderSource(dir));
      const expected = tokenizer.decode(AFTER_ONCE_IDS.slice(0, 40));
      expect(expected.startsWith(', there was a little girl named Lily.')).toBe(true);
      expect(r.stdout).toBe(`${expected}\n`);
    });

    it('generate --weights f16 runs the model with f16 matrices', async () => {
      const dir = join(SHARED_DIR!, 'models', 'stories260K');
      const r = await cliInProcess(['generate', '--model', dir, '--prompt', 'Once upon a time', '--max-new-tokens', '8', '--weights', 'f16']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().length).toBeGreaterThan(0);
    });

    /** A copy of stories260K in a temporary folder, with `edit` applied to it. */
    function brokenCopy(edit: (dir: string) => void): string {
      const src = join(SHARED_DIR!, 'models', 'stories260K');
      const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-broken-'));
      for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) {
        copyFileSync(join(src, f), join(dir, f));
      }
      edit(dir);
      return dir;
    }

    it('a truncated model.safetensors fails with the file and a tensor named', async () => {
      const dir = brokenCopy((d) => {
        const bytes = readFileSync(join(d, 'model.safetensors'));
        writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
      });
      const r = await cliInProcess(['generate', '--model', dir, '--prompt', 'hi']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/model\.safetensors: tensor '[\w.]+'.*past the end of the file.*truncated/);
    });

    it('header offsets pointing outside the file fail with the tensor named', async () => {
      const dir = brokenCopy((d) => {
        const bytes = readFileSync(join(d, 'model.safetensors'));
        const n = Number(bytes.readBigUInt64LE(0));
        const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
        header['model.norm.weight'].data_offsets = [10_000_000, 10_000_256];
        const json = Buffer.from(JSON.stringify(header).padEnd(n, ' '));
        expect(json.length).toBe(n);
        json.copy(bytes, 8);
        writeFileSync(join(d, 'model.safetensors'), bytes);
      });
      const r = await cliInProcess(['generate', '--model', dir, '--prompt', 'hi']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/model\.safetensors: tensor 'model\.norm\.weight'.*past the end of the file/);
    });

    it('an unsupported model_type fails naming it and the supported types', async () => {
      const dir = brokenCopy((d) => {
        const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, model_type: 'mamba' }));
      });
      const r = await cliInProcess(['generate', '--model', dir, '--prompt', 'hi']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/config\.json.*"mamba".*llama, qwen2, qwen3, gpt2/);
    });
  });
});
