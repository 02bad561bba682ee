// The base model's logits against PyTorch's (`logits.base` of every case in ../shared/golden and
// ../shared/golden-arch, and ../shared/golden-quant with the projections quantized as case.json's
// `quantization` says and the rest float32): within 2e-4 of the largest |logit|, at positions whose
// attention_mask is 1.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forward } from '../../src/model/forward.js';
import { LanguageModel } from '../../src/model/model.js';
import { readSafetensorsHeader, readTensorF32, readTensorI32 } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const goldenDirs = SHARED_DIR ? ['golden', 'golden-arch', 'golden-quant'].map((d) => join(SHARED_DIR!, d)) : [];
const cases = goldenDirs.flatMap((dir) => readdirSync(dir).filter((d) => existsSync(join(dir, d, 'case.json'))).map((name) => ({ dir, name })));

describe.skipIf(!SHARED_DIR)(`base logits vs PyTorch golden data${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('finds the ten golden cases (four in golden, three in golden-arch, three in golden-quant)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const { dir, name } of cases) {
    it(`${name}: logits.base within 2e-4 of the largest |logit|`, async () => {
      const ctx = await gpu();
      const caseJson = JSON.parse(readFileSync(join(dir, name, 'case.json'), 'utf8'));
      const method = caseJson.quantization?.method as 'nf4' | 'q8' | undefined;
      const weightStorage = method ? { projections: method, others: 'f32' as const } : 'f32';
      const model = await LanguageModel.load(ctx, folderSource(join(SHARED_DIR!, 'models', caseJson.model)), undefined, { weightStorage });
      const expected = folderSource(join(dir, name));
      const header = await readSafetensorsHeader(expected, 'expected.safetensors');
      const ids = await readTensorI32(expected, header, 'input_ids');
      const mask = await readTensorI32(expected, header, 'attention_mask');
      const want = await readTensorF32(expected, header, 'logits.base');
      const [B, T] = header.tensors.get('input_ids')!.shape;
      const V = model.spec.V;

      const state = model.createState(B, T);
      const got = await forward(ctx, model.weights, state, ids, T, { mask, allLogits: true });
      let largest = 0;
      for (const x of want) largest = Math.max(largest, Math.abs(x));
      let worst = 0;
      let compared = 0;
      for (let r = 0; r < B * T; r++) {
        if (mask[r] !== 1) continue;
        compared++;
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(got[r * V + v] - want[r * V + v]));
      }
      console.log(`${name}: max |Δlogit| ${worst.toExponential(2)}, largest |logit| ${largest.toFixed(3)}, ${compared} positions`);
      expect(compared).toBeGreaterThan(0);
      expect(worst).toBeLessThanOrEqual(2e-4 * largest);
      model.destroy();
    });
  }
});
