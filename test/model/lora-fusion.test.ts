// The fused LoRA launches of the barrier-free path (src/model/linear.ts: x·Wᵀ + s·u·Bᵀ in one
// launch, dy·W + du·A in another) give a TrainStep the same losses and LoRA gradients, bit for bit,
// as the separate launches (loraFusion off), with one launch less per adapted projection in each
// direction (two without dropout). On stories260K (Llama, every projection adapted, K = 172 on
// down_proj) and tiny-random-gpt2 (biases, q/k/v sharing A), with f32 and f16 weights, with and
// without LoRA dropout (which keeps du·A a launch of its own), on both kernel paths: the
// barrier-free kernels and the real-GPU ones (each policy injected, test/helpers.ts withPolicy).
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { diffRecordStats, recordStats } from '../../src/gpu/kernel.js';
import { readTensor } from '../../src/gpu/tensor.js';
import type { LoraAdapter } from '../../src/lora/adapter.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { adaptedKinds } from '../../src/model/layer.js';
import { loraFusion } from '../../src/model/linear.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import { DEFAULT_OPTIMIZER, TrainStep } from '../../src/train/step.js';
import { tiledKernels, barrierFreeKernels, gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

/** Model folder, and the golden adapter (every projection it adapts has a nonzero lora_B). */
const CASES: Array<[model: string, adapter: string, weights: 'f32' | 'f16']> = [
  ['stories260K', 'stories260K-all-linear', 'f32'],
  ['tiny-random-gpt2', 'gpt2-attn-mlp', 'f16'],
];
const B = 2;
const T = 12;

/** Micro-batch k: no loss on each row's first two positions. */
function batch(V: number, k: number): TokenBatch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 37 + 11 * k + 5) % V);
  const labels = Int32Array.from(ids, (id, i) => (i % T < 2 ? -100 : id));
  return { B, T, ids, labels, attentionMask: ids.map(() => 1) };
}

for (const [modelName, adapterName, weightStorage] of CASES) {
  describe.skipIf(!SHARED_DIR)(`fused LoRA launches: ${modelName}, ${weightStorage} weights${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
    let model: LanguageModel;
    let adapter: LoraAdapter;
    beforeAll(async () => {
      const ctx = await gpu();
      model = await LanguageModel.load(ctx, folderSource(join(SHARED_DIR!, 'models', modelName)), undefined, { weightStorage });
      adapter = await importPeft(folderSource(join(SHARED_DIR!, 'golden', adapterName)), model.spec);
    });
    afterAll(() => model?.destroy());
    afterEach(() => {
      loraFusion.enabled = true;
    });

    /** Gradients over two micro-batches at optimizer step 3, the dispatches that recorded them, and an evaluation loss. */
    async function run(pose: typeof tiledKernels, p: number, fuse: boolean) {
      loraFusion.enabled = fuse;
      const ctx = pose(await gpu());
      const lora = await GpuLora.create(ctx, { ...adapter, config: { ...adapter.config, dropout: p } }, { dropoutSeed: 7 });
      const step = new TrainStep(ctx, model, lora, B, T, DEFAULT_OPTIMIZER);
      step.step = 3;
      const batches = [batch(model.spec.V, 0), batch(model.spec.V, 1)];
      const before = recordStats(ctx);
      const loss = await step.gradients(batches);
      const dispatches = diffRecordStats(recordStats(ctx), before).dispatches;
      const grads = await readTensor(ctx, lora.grads);
      const evalLoss = (await step.loss(batches[1])).loss;
      const projections = model.spec.L * adaptedKinds(model.spec, lora).kinds.length;
      step.destroy();
      lora.destroy();
      return { loss, grads, evalLoss, dispatches, projections };
    }

    for (const [path, pose] of [['barrier-free kernels', barrierFreeKernels], ['GPU kernels', tiledKernels]] as const)
    for (const p of [0, 0.25]) {
      it(`gives bit-identical losses and gradients with fewer launches (${path}, LoRA dropout ${p})`, async () => {
        const separate = await run(pose, p, false);
        const fused = await run(pose, p, true);
        expect(Number.isFinite(separate.loss)).toBe(true);
        expect(separate.grads.some((g) => g !== 0)).toBe(true);
        expect(fused.loss).toBe(separate.loss);
        expect(fused.evalLoss).toBe(separate.evalLoss);
        expect(fused.grads).toEqual(separate.grads);
        // Per micro-batch, one launch less forward for each adapted projection and, without
        // dropout, one less backward too (every K and R here is a multiple of 4).
        expect(separate.dispatches - fused.dispatches).toBe(2 * (p > 0 ? 1 : 2) * fused.projections);
      });
    }
  });
}
