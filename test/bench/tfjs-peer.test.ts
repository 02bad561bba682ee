// The benchmark's tfjs peer (bench/tfjs-peer.ts) computes the engine's loss: on stories260K (a real
// Llama with GQA, NH 8 / KV 4), with the same weights and the same non-zero LoRA A and B on every
// linear projection, a padded batch with ignored labels gives the same loss on both, before and
// after one AdamW step at the same learning rate; and the peer's steps learn.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTfjsPeer, tfjsOnWebGpu, type PeerOptions, type TfjsPeer } from '../../bench/tfjs-peer.js';
import { initLoraA, type LoraAdapter, type LoraFactors } from '../../src/lora/adapter.js';
import { resolveLoraModules, type LoraConfig } from '../../src/lora/config.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { loadWeights, type ModelWeights } from '../../src/model/weights.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { makeBatch, type Batch } from '../../src/train/batches.js';
import { TrainStep } from '../../src/train/step.js';
import { gpu, NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';

const LORA: LoraConfig = { r: 4, alpha: 8, targetModules: 'all-linear', useRslora: false, dropout: 0 };
const LR = 1e-2;
const MAX_GRAD_NORM = 1.0;

/**
 * Two rows of story text, the first 4 and 3 tokens an unlearned prompt; the second row is shorter
 * and padded, so its tail is ignored too. Both about a dozen tokens long.
 */
const TEXTS = ['Once upon a time, there was a little girl named Lily.', 'Tom saw a big red ball.'];
const PROMPT = [4, 3];
const relError = (got: number, want: number) => Math.abs(got - want) / Math.abs(want);

describe.skipIf(!SHARED_DIR)(`tfjs peer on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let weights: ModelWeights;
  let adapter: LoraAdapter;
  let batch: Batch;
  let peer: TfjsPeer;
  let opts: PeerOptions;

  beforeAll(async () => {
    const source = folderSource(join(SHARED_DIR!, 'models', 'stories260K'));
    model = await LanguageModel.load(await gpu(), source);
    weights = await loadWeights(source, model.spec);
    // A as PEFT initialises it, B small and non-zero, so that every LoRA path moves the loss.
    const modules = resolveLoraModules(model.spec, LORA);
    const factors = new Map<string, LoraFactors>();
    modules.forEach((m, i) => {
      factors.set(m.path, { A: initLoraA(LORA.r, m.inFeatures, 3, m.path), B: randomArray(m.outFeatures * LORA.r, 100 + i, -0.01, 0.01) });
    });
    adapter = { config: LORA, modules, weights: factors, baseModel: 'stories260K' };
    const tokenizer = await TextTokenizer.load(source);
    const rows = TEXTS.map((text, r) => {
      const ids = tokenizer.encode(text);
      return { ids, labels: ids.map((id, t) => (t < PROMPT[r] ? -100 : id)) };
    });
    batch = makeBatch(rows, 0);
    opts = { batch: batch.B, seq: batch.T, lora: LORA, learningRate: LR, seed: 0, maxGradNorm: MAX_GRAD_NORM, initial: factors };
    await tfjsOnWebGpu();
    peer = await createTfjsPeer(model.spec, weights, opts);
  });

  afterAll(() => {
    peer?.dispose();
    model?.destroy();
  });

  it('gives the engine loss, before and after one AdamW step at the same learning rate', async () => {
    const ctx = await gpu();
    const lora = GpuLora.create(ctx, adapter);
    const step = new TrainStep(ctx, model, lora, batch.B, batch.T, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: MAX_GRAD_NORM });
    try {
      const engine = (await step.loss(batch)).loss;
      const ours = await peer.loss(batch.ids, batch.labels);
      console.log(`stories260K 2×${batch.T}: engine loss ${engine}, tfjs peer ${ours}, relative difference ${relError(ours, engine).toExponential(2)}`);
      expect(Number.isFinite(engine) && engine > 0).toBe(true);
      expect(relError(ours, engine)).toBeLessThan(1e-4);

      // One step each: both report the loss before the update, and then agree on the loss after.
      const engineBefore = await step.train([batch], LR);
      const peerBefore = await peer.step(batch.ids, batch.labels);
      expect(relError(engineBefore, engine)).toBeLessThan(1e-6);
      expect(relError(peerBefore, engine)).toBeLessThan(1e-4);
      const engineAfter = (await step.loss(batch)).loss;
      const peerAfter = await peer.loss(batch.ids, batch.labels);
      console.log(`after one step: engine ${engineAfter}, tfjs peer ${peerAfter}, relative difference ${relError(peerAfter, engineAfter).toExponential(2)}`);
      expect(engineAfter).toBeLessThan(engine);
      expect(relError(peerAfter, engineAfter)).toBeLessThan(1e-3);
    } finally {
      step.destroy();
      lora.destroy();
    }
  }, 300_000);

  it('learns over three steps on one batch, keeps no tensor across steps, and reports its GPU memory', async () => {
    const tf = await tfjsOnWebGpu();
    const fresh = await createTfjsPeer(model.spec, weights, opts);
    try {
      const before = await fresh.loss(batch.ids, batch.labels);
      expect(await fresh.step(batch.ids, batch.labels)).toBeCloseTo(before, 5);
      const tensors = tf.memory().numTensors; // the variables and, from the first step on, Adam's moments
      await fresh.step(batch.ids, batch.labels);
      await fresh.step(batch.ids, batch.labels);
      const after = await fresh.loss(batch.ids, batch.labels);
      console.log(`tfjs peer: loss ${before} → ${after} after 3 steps; GPU high-water ${fresh.peakBytes()} bytes held, ${fresh.peakUsedBytes()} in use`);
      expect(after).toBeLessThan(before);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(fresh.peakBytes()).toBeGreaterThan(0);
      expect(fresh.peakUsedBytes()).toBeGreaterThan(0);
      expect(fresh.peakUsedBytes()).toBeLessThanOrEqual(fresh.peakBytes());
    } finally {
      fresh.dispose();
    }
  }, 300_000);

  it('refuses gpt2 and batches of the wrong size', async () => {
    await expect(createTfjsPeer({ ...model.spec, arch: 'gpt2', modelType: 'gpt2' }, weights, opts)).rejects.toThrow(/gpt2 models are not supported/);
    await expect(peer.loss(batch.ids.subarray(1), batch.labels)).rejects.toThrow(/batch·seq/);
  });
});
