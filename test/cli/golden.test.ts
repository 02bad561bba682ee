// `webgpu-lora golden` on every case of ../shared/golden, ../shared/golden-arch (Gemma 3,
// Llama-3 RoPE scaling with bf16 weights, SmolLM3) and ../shared/golden-quant (QLoRA: NF4 and
// Q8_0 projections): LoRA logits, the loss trajectory, every gradient, the AdamW steps, the
// trained and merged logits and the merged weights (golden-quant: no merge, but every quantized
// weight dequantized, bit for bit) against PyTorch + PEFT, through the CLI: the first case as a user runs it (the binary, bin/webgpu-lora.js),
// the others through main() in this process.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli, cliInProcess } from './run-cli.js';

const goldenDirs = SHARED_DIR ? ['golden', 'golden-arch', 'golden-quant'].map((d) => join(SHARED_DIR!, d)) : [];
const cases = goldenDirs.flatMap((dir) => readdirSync(dir).filter((d) => existsSync(join(dir, d, 'case.json'))).map((name) => join(dir, name)));

async function golden(caseDir: string, out: string, binary: boolean) {
  const model = JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8')).model;
  const args = ['golden', caseDir, '--model', join(SHARED_DIR!, 'models', model), '--out', out];
  return binary ? cli(args, 300_000) : cliInProcess(args);
}

/**
 * Checks past the issue's bounds, with the largest error accepted until they are closed (issue 12).
 * gemma3-all-linear: element 833 of layers.2.self_attn.q_proj.lora_B has a gradient of 1.6e-8
 * (two millionths of the tensor's largest), below AdamW's eps of 1e-8's scale, so the first
 * update g/(|g| + eps) turns float32 noise in g into a large update difference: PyTorch has
 * 1.6043e-8, this engine 1.7589e-8, a float64 finite difference 1.617e-8 — the exact gradient
 * itself would miss the after1 bound. The gradient check of that tensor passes (3.2e-6 of its
 * largest); what exceeds the bound is the AdamW update of that one element, and through it the
 * trained B and the merged weight. Any other FAIL line, or a larger error here, fails the test.
 */
const KNOWN_GAPS: Record<string, Record<string, number>> = {
  'gemma3-all-linear': {
    'after1.base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight': 2.5e-2,
    'after5.base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight': 5e-3,
    'merged_after5.safetensors:model.layers.2.self_attn.q_proj.weight': 3e-4,
  },
};

/** The FAIL lines that are not known gaps within their recorded error. */
function unexpectedFailures(caseName: string, lines: string[]): string[] {
  const gaps = KNOWN_GAPS[caseName] ?? {};
  return lines.filter((l) => {
    if (!l.startsWith('FAIL')) return false;
    const m = l.match(/^FAIL (\S+)\s.* error (\S+) of /);
    const ceiling = m ? gaps[m[1]] : undefined;
    return ceiling === undefined || !(Number(m![2]) <= ceiling);
  });
}

describe.skipIf(!SHARED_DIR)(`webgpu-lora golden${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('has the ten cases (four in golden, three in golden-arch, three in golden-quant)', () => expect(cases.length).toBeGreaterThanOrEqual(10));

  for (const [i, caseDir] of cases.entries()) {
    const gaps = Object.keys(KNOWN_GAPS[basename(caseDir)] ?? {}).length;
    it(`${basename(caseDir)}: every tensor within tolerance${gaps ? `, but ${gaps} known gaps within their recorded errors` : ''}`, async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-golden-')), 'computed.safetensors');
      const r = await golden(caseDir, out, i === 0);
      const lines = r.stdout.split('\n').filter((l) => /^(ok|FAIL) /.test(l));
      expect(unexpectedFailures(basename(caseDir), lines), r.stderr).toEqual([]);
      expect(r.status).toBe(lines.some((l) => l.startsWith('FAIL')) ? 1 : 0);

      // Every kind of tensor was compared.
      const { steps, quantization } = JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8'));
      const kinds = ['logits.base', 'logits.lora', 'loss.trajectory', `logits.after${steps}`, 'grad.', 'after1.', `after${steps}.`];
      kinds.push(...(quantization ? ['dequantized.'] : [`logits.merged_after${steps}`, `merged_after${steps}.safetensors:`]));
      for (const kind of kinds) expect(lines.some((l) => l.includes(` ${kind}`)), kind).toBe(true);
      // golden-quant: every quantized weight's dequantized values, within 1e-6 (in effect equal).
      for (const name of quantization?.quantized ?? []) expect(lines.some((l) => l.startsWith(`ok   dequantized.${name} `)), name).toBe(true);
      // --out holds every tensor under the expected file's names (the batch itself aside).
      const expected = await readSafetensorsHeader(folderSource(caseDir), 'expected.safetensors');
      const written = await readSafetensorsHeader(folderSource(join(out, '..')), 'computed.safetensors');
      const wanted = [...expected.tensors.keys()].filter((k) => !['input_ids', 'attention_mask', 'labels'].includes(k));
      expect([...written.tensors.keys()].sort()).toEqual(wanted.sort());
      expect([...written.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    });
  }
});
