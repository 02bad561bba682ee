// LoRA dropout in whole training passes (TrainStep on real models): the gradients with p > 0 are
// reproducible for one pass number and change with it, differ from p = 0's, and evaluation and
// p = 0 are untouched by the dropout machinery (no scratch buffer, the same numbers).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTensor } from '../../src/gpu/tensor.js';
import type { LoraAdapter } from '../../src/lora/adapter.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { createTrainBuffers, destroyTrainBuffers } from '../../src/model/train-buffers.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import { dropoutPass, TrainStep } from '../../src/train/step.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const CASES: Array<[model: string, golden: string]> = [
  ['stories260K', 'stories260K-all-linear'], // seven separate projections per layer
  ['tiny-random-gpt2', 'gpt2-attn-mlp'], // fused q/k/v: one A, one mask for all three
];

function batch(V: number): TokenBatch {
  const B = 2;
  const T = 12;
  const ids = Array.from({ length: B * T }, (_, i) => (i * 37 + 5) % V);
  const labels = Int32Array.from(ids, (id, i) => (i % T < 3 ? -100 : id));
  return { B, T, ids, labels, attentionMask: new Array(B * T).fill(1) };
}

for (const [modelName, golden] of CASES) {
  describe.skipIf(!SHARED_DIR)(`LoRA dropout in training passes: ${modelName}${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
    let model: LanguageModel;
    let adapter: LoraAdapter;
    beforeAll(async () => {
      const ctx = await gpu();
      model = await LanguageModel.load(ctx, folderSource(join(SHARED_DIR!, 'models', modelName)));
      adapter = await importPeft(folderSource(join(SHARED_DIR!, 'golden', golden)), model.spec);
    });
    afterAll(() => model?.destroy());

    /** Loss and gradients of one pass (optimizer step `step`), and the evaluation loss, with dropout p. */
    async function run(p: number, step = 0, dropoutSeed = 0) {
      const ctx = await gpu();
      const lora = GpuLora.create(ctx, { ...adapter, config: { ...adapter.config, dropout: p } }, { dropoutSeed });
      const trainer = new TrainStep(ctx, model, lora, 2, 12);
      trainer.step = step;
      const b = batch(model.spec.V);
      const loss = await trainer.gradients([b]);
      const grads = await readTensor(ctx, lora.grads);
      const evalLoss = (await trainer.loss(b)).loss;
      trainer.destroy();
      lora.destroy();
      return { loss, grads, evalLoss };
    }

    it('is reproducible for one pass, changes with the pass and the seed, and differs from p = 0', async () => {
      const off = await run(0);
      const a = await run(0.3, 4);
      const again = await run(0.3, 4);
      expect(again.grads).toEqual(a.grads);
      expect(again.loss).toBe(a.loss);
      const differs = (x: Float32Array, y: Float32Array) => x.some((v, i) => Math.abs(v - y[i]) > 1e-6 * (1 + Math.abs(y[i])));
      expect(differs(a.grads, off.grads)).toBe(true);
      expect(a.loss).not.toBe(off.loss);
      expect(differs((await run(0.3, 5)).grads, a.grads)).toBe(true);
      expect(differs((await run(0.3, 4, 1)).grads, a.grads)).toBe(true);
      // Evaluation never drops: the same loss as without dropout, bit for bit.
      expect(a.evalLoss).toBe(off.evalLoss);
      // And the training loss without dropout is the evaluation loss.
      expect(off.loss).toBe(off.evalLoss);
    });

    it('plans the dropout scratch only when p > 0', async () => {
      const ctx = await gpu();
      for (const [p, has] of [[0, false], [0.1, true]] as const) {
        const lora = GpuLora.create(ctx, { ...adapter, config: { ...adapter.config, dropout: p } });
        const tb = createTrainBuffers(ctx, model.spec, 2, 12, lora);
        expect(!!tb.dropScratch).toBe(has);
        if (tb.dropScratch) expect(tb.dropScratch.shape).toEqual([24, model.spec.F]);
        expect(lora.slot(0, 'q')?.dropout).toEqual(has ? { p, seed: 0, stream: 0 } : undefined);
        destroyTrainBuffers(tb);
        lora.destroy();
      }
    });
  });
}

describe('dropoutPass', () => {
  it('numbers the micro-batches of each optimizer step apart, as u32', () => {
    expect(dropoutPass(0, 0)).toBe(0);
    expect(dropoutPass(0, 1)).toBe(1);
    expect(dropoutPass(1, 0)).toBe(4096);
    expect(new Set([0, 1, 2].flatMap((s) => [0, 1, 2].map((i) => dropoutPass(s, i)))).size).toBe(9);
    expect(dropoutPass(2 ** 20, 3)).toBe(3);
  });
});
