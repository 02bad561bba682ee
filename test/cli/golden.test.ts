// `webgpu-lora golden` on every case of ../shared/golden: LoRA logits, the loss trajectory, every
// gradient, the AdamW steps, the trained and merged logits and the merged weights against
// PyTorch + PEFT, through the CLI: the first case as a user runs it (the binary, bin/webgpu-lora.js),
// the others through main() in this process.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli, cliInProcess } from './run-cli.js';

const goldenDir = join(SHARED_DIR ?? '', 'golden');
const cases = SHARED_DIR ? readdirSync(goldenDir).filter((d) => existsSync(join(goldenDir, d, 'case.json'))) : [];

async function golden(caseName: string, out: string, binary: boolean) {
  const model = JSON.parse(readFileSync(join(goldenDir, caseName, 'case.json'), 'utf8')).model;
  const args = ['golden', join(goldenDir, caseName), '--model', join(SHARED_DIR!, 'models', model), '--out', out];
  return binary ? cli(args, 300_000) : cliInProcess(args);
}

describe.skipIf(!SHARED_DIR)(`webgpu-lora golden${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('has the four cases', () => expect(cases.length).toBeGreaterThanOrEqual(4));

  for (const [i, name] of cases.entries()) {
    it(`${name}: every tensor within tolerance`, async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-golden-')), 'computed.safetensors');
      const r = await golden(name, out, i === 0);
      const lines = r.stdout.split('\n').filter((l) => /^(ok|FAIL) /.test(l));
      expect(lines.filter((l) => l.startsWith('FAIL')), r.stderr).toEqual([]);
      expect(r.status).toBe(0);

      // Every kind of tensor was compared.
      const steps = JSON.parse(readFileSync(join(goldenDir, name, 'case.json'), 'utf8')).steps;
      for (const kind of ['logits.base', 'logits.lora', 'loss.trajectory', `logits.after${steps}`, `logits.merged_after${steps}`, 'grad.', 'after1.', `after${steps}.`, `merged_after${steps}.safetensors:`]) {
        expect(lines.some((l) => l.includes(` ${kind}`)), kind).toBe(true);
      }
      // --out holds every tensor under the expected file's names (the batch itself aside).
      const expected = await readSafetensorsHeader(folderSource(join(goldenDir, name)), 'expected.safetensors');
      const written = await readSafetensorsHeader(folderSource(join(out, '..')), 'computed.safetensors');
      const wanted = [...expected.tensors.keys()].filter((k) => !['input_ids', 'attention_mask', 'labels'].includes(k));
      expect([...written.tensors.keys()].sort()).toEqual(wanted.sort());
      expect([...written.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    });
  }
});
