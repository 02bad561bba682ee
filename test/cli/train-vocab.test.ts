// webgpu-lora train on the models with real tokenizers and chat templates (../shared/models/*-vocab:
// Qwen3, Qwen2.5, Gemma 3 and Llama 3 vocabularies and templates, tiny random weights): two steps
// on four of the demo's Korean customer-support pairs, each folder end to end through the CLI, in
// this process. Each run must exit 0 with finite losses and write a PEFT adapter whose tensors
// load back onto the model (PEFT key names, the model's shapes).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importPeft } from '../../src/lora/peft.js';
import { loadModelSpec } from '../../src/model/config.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cliInProcess } from './run-cli.js';

const FOLDERS = ['qwen3-vocab', 'qwen2.5-vocab', 'gemma3-vocab', 'llama3-vocab'];
const KOREAN = join(import.meta.dirname, '../../demo/examples/ko-support.jsonl');

describe.skipIf(!SHARED_DIR)(`webgpu-lora train on the real tokenizers, Korean data${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const lines = readFileSync(KOREAN, 'utf8').trim().split('\n').slice(0, 4);
  const data = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-ko-')), 'ko.jsonl');
  writeFileSync(data, `${lines.join('\n')}\n`);

  for (const folder of FOLDERS) {
    it(`${folder}: two steps, finite losses, a PEFT adapter that loads`, async () => {
      const model = join(SHARED_DIR!, 'models', folder);
      const out = join(mkdtempSync(join(tmpdir(), `webgpu-lora-${folder}-`)), 'adapter');
      const r = await cliInProcess([
        'train', '--model', model, '--data', data, '--out', out,
        '--max-steps', '2', '--batch-size', '2', '--rank', '4', '--alpha', '8', '--max-length', '64', '--val-split', '0', '--seed', '3',
      ]);
      expect(r.status, r.stderr).toBe(0);
      const losses = [...`${r.stdout}\n${r.stderr}`.matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
      expect(losses.length, `${r.stdout}\n${r.stderr}`).toBeGreaterThan(0);
      for (const l of losses) expect(Number.isFinite(l) && l > 0).toBe(true);
      const { spec } = await loadModelSpec(folderSource(model));
      const adapter = await importPeft(folderSource(out), spec);
      expect(adapter.config.r).toBe(4);
      expect(adapter.modules.length).toBeGreaterThan(0);
      expect(adapter.weights.size).toBe(adapter.modules.length);
      for (const f of adapter.weights.values()) expect([...f.A, ...f.B].every(Number.isFinite)).toBe(true);
      const header = await readSafetensorsHeader(folderSource(out), 'adapter_model.safetensors');
      for (const key of header.tensors.keys()) expect(key).toMatch(/^base_model\.model\.model\.layers\.\d+\.(self_attn|mlp)\.\w+\.lora_[AB]\.weight$/);
    });
  }
});
