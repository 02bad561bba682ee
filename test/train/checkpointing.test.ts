// Gradient checkpointing: a TrainStep that keeps one layer's activations and recomputes each
// layer in the backward pass gives the same losses and LoRA gradients, bit for bit, as one that
// saves every layer's (all kernels are deterministic, and LoRA dropout's masks are hashed from the
// pass, so the recomputation reproduces them); it allocates exactly L − 1 sets of block buffers
// less; and either kind allocates exactly the tensors of its plan (model/train-buffer-plan.ts),
// whose bytes are the memory estimate's activations.
// On stories260K (Llama: GQA, RoPE, SwiGLU), tiny-random-qwen3 (per-head q/k norm) and
// tiny-random-gpt2 (LayerNorm, learned positions, fused q/k/v LoRA), with LoRA on every projection.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpuMemory, readTensor, Tensor } from '../../src/gpu/tensor.js';
import type { LoraAdapter } from '../../src/lora/adapter.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { adaptedKinds, createLayerBuffers, destroyLayerBuffers } from '../../src/model/layer.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { plannedBytes, plannedTensors, planTrainBuffers } from '../../src/model/train-buffer-plan.js';
import { adapterShape, createTrainBuffers, destroyTrainBuffers } from '../../src/model/train-buffers.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import { estimateTrainingMemory, loraAdapterShape } from '../../src/train/memory.js';
import { DEFAULT_OPTIMIZER, TrainStep } from '../../src/train/step.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

/** Model folder, and the golden adapter (every projection, lora_B nonzero so every gradient is). */
const CASES: Array<[model: string, adapter: string]> = [
  ['stories260K', 'stories260K-all-linear'],
  ['tiny-random-qwen3', 'qwen3-all-linear'],
  ['tiny-random-gpt2', 'gpt2-attn-mlp'],
];
/** Every tensor in a record of them (arrays and nested records included). */
function tensorsOf(x: unknown): Tensor[] {
  if (x instanceof Tensor) return [x];
  if (Array.isArray(x)) return x.flatMap(tensorsOf);
  if (typeof x === 'object' && x !== null && !ArrayBuffer.isView(x)) return Object.values(x).flatMap(tensorsOf);
  return [];
}

/** The planned batch: B rows of up to T tokens. */
const B = 2;
const T = 16;

/**
 * Micro-batch k of [B, t] tokens: no loss on each row's first three positions; with `padFrom`,
 * row 1 is padding from that position on (mask 0, no loss).
 */
function microBatch(V: number, k: number, t: number, padFrom?: number): TokenBatch {
  const n = B * t;
  const pad = (i: number) => padFrom !== undefined && i >= t && i % t >= padFrom;
  const ids = Array.from({ length: n }, (_, i) => (pad(i) ? 0 : (i * 37 + 11 * k + 5) % V));
  const labels = Int32Array.from(ids, (id, i) => (i % t < 3 || pad(i) ? -100 : id));
  const attentionMask = Array.from({ length: n }, (_, i) => (pad(i) ? 0 : 1));
  return { B, T: t, ids, labels, attentionMask };
}

for (const [modelName, adapterName] of CASES) {
  describe.skipIf(!SHARED_DIR)(`gradient checkpointing: ${modelName}${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
    let model: LanguageModel;
    let adapter: LoraAdapter;
    beforeAll(async () => {
      const ctx = await gpu();
      model = await LanguageModel.load(ctx, folderSource(join(SHARED_DIR!, 'models', modelName)));
      adapter = await importPeft(folderSource(join(SHARED_DIR!, 'golden', adapterName)), model.spec);
    });
    afterAll(() => model?.destroy());

    /** The adapter with LoRA dropout p, on the GPU. */
    const gpuLora = async (p: number) => GpuLora.create(await gpu(), { ...adapter, config: { ...adapter.config, dropout: p } }, { dropoutSeed: 7 });

    /**
     * Gradients over two micro-batches (the second shorter than planned, with a padded row) after
     * three optimizer steps (so dropout draws the masks of a nonzero pass), an evaluation loss,
     * and the bytes the TrainStep allocated.
     */
    async function run(p: number, gradientCheckpointing: boolean) {
      const ctx = await gpu();
      const start = gpuMemory(ctx).current;
      const lora = await gpuLora(p);
      const before = gpuMemory(ctx).current;
      const step = new TrainStep(ctx, model, lora, B, T, DEFAULT_OPTIMIZER, { gradientCheckpointing });
      const bytes = gpuMemory(ctx).current - before;
      step.step = 3;
      const V = model.spec.V;
      const batches = [microBatch(V, 0, T), microBatch(V, 1, 12, 7)];
      const loss = await step.gradients(batches);
      const grads = await readTensor(ctx, lora.grads);
      const evalLoss = (await step.loss(batches[1])).loss;
      step.destroy();
      lora.destroy();
      expect(gpuMemory(ctx).current, 'everything allocated is freed').toBe(start);
      return { loss, grads, evalLoss, bytes };
    }

    /** The bytes of one layer's block buffers, as createTrainBuffers plans them for this adapter. */
    async function layerBufferBytes(): Promise<number> {
      const ctx = await gpu();
      const lora = await gpuLora(0);
      const { kinds, R } = adaptedKinds(model.spec, lora);
      const before = gpuMemory(ctx).current;
      const buf = createLayerBuffers(ctx, model.spec, B, T, R, kinds, 'probe');
      const bytes = gpuMemory(ctx).current - before;
      destroyLayerBuffers(buf);
      lora.destroy();
      return bytes;
    }

    for (const p of [0, 0.25]) {
      it(`gives bit-identical losses and gradients, with L − 1 block buffers less (LoRA dropout ${p})`, async () => {
        const saved = await run(p, false);
        const recomputed = await run(p, true);
        expect(saved.grads.some((g) => g !== 0)).toBe(true);
        expect(Number.isFinite(saved.loss)).toBe(true);
        expect(recomputed.loss).toBe(saved.loss);
        expect(recomputed.grads).toEqual(saved.grads);
        expect(recomputed.evalLoss).toBe(saved.evalLoss);
        expect(saved.bytes - recomputed.bytes).toBe((model.spec.L - 1) * (await layerBufferBytes()));
        if (p > 0) {
          // The dropout case really drops: its gradients are not those without dropout.
          const plain = await run(0, true);
          expect(recomputed.grads).not.toEqual(plain.grads);
        }
      });
    }

    it('allocates exactly the planned tensors, with and without checkpointing, and the estimate sums that plan', async () => {
      const ctx = await gpu();
      for (const p of [0, 0.25]) {
        const lora = await gpuLora(p);
        for (const checkpoint of [false, true]) {
          const plan = planTrainBuffers(model.spec, B, T, adapterShape(model.spec, lora), { checkpoint });
          const before = gpuMemory(ctx).current;
          const tb = createTrainBuffers(ctx, model.spec, B, T, lora, { checkpoint });
          const allocated = gpuMemory(ctx).current - before;
          const what = `dropout ${p}, checkpointing ${checkpoint}`;
          expect(tb.layers).toHaveLength(checkpoint ? 1 : model.spec.L);
          expect(!!tb.dropScratch, what).toBe(p > 0);
          // Every tensor of the TrainBuffers, by label, is a planned one with its shape and type, and none is missing.
          const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);
          const tensors = tensorsOf(tb).map((t) => ({ name: t.label, shape: [...t.shape], dtype: t.dtype }));
          expect(tensors.sort(byName), what).toEqual(plannedTensors(plan).sort(byName));
          expect(allocated, what).toBe(plannedBytes(plan).total);
          destroyTrainBuffers(tb);
          expect(gpuMemory(ctx).current, 'the shared buffers are destroyed once, and everything is').toBe(before);
          // The estimate reads the same plan from the LoRA config: the adapter it derives is the GPU adapter's.
          expect(loraAdapterShape(lora.adapter.config, lora.adapter.modules), what).toEqual(adapterShape(model.spec, lora));
          const estimate = estimateTrainingMemory(model.spec, lora.adapter.config, B, T, { gradientCheckpointing: checkpoint });
          expect(estimate.activationBytes, what).toBe(allocated);
        }
        lora.destroy();
      }
    });

    it('estimates exactly the bytes a training step allocates: the adapter laid out as GpuLora lays it, AdamW and the buffers', async () => {
      const ctx = await gpu();
      for (const checkpoint of [false, true]) {
        const before = gpuMemory(ctx).current;
        const lora = await gpuLora(0);
        const step = new TrainStep(ctx, model, lora, B, T, DEFAULT_OPTIMIZER, { gradientCheckpointing: checkpoint });
        const allocated = gpuMemory(ctx).current - before;
        const estimate = estimateTrainingMemory(model.spec, lora.adapter.config, B, T, {
          gradientCheckpointing: checkpoint,
          storageOffsetAlignment: ctx.limits.minStorageBufferOffsetAlignment,
        });
        expect(estimate.adapterBytes + estimate.activationBytes, `checkpointing ${checkpoint}`).toBe(allocated);
        expect(estimate.adapterBytes).toBeGreaterThanOrEqual(4 * 4 * lora.trainableParameters);
        step.destroy();
        lora.destroy();
        expect(gpuMemory(ctx).current).toBe(before);
      }
    });
  });
}
