// The training pass computes logits, loss and loss gradient only at the positions that have a
// label (src/model/train-pass.ts: gathered before the LM head, their gradient scattered back).
// Checked on stories260K with a nonzero adapter, at label patterns a user's data has: every
// position, a masked prompt, a padded second sequence, one position, none. The loss must equal the
// cross-entropy of the inference forward pass's logits (every position computed) at the labelled
// positions; the gradient of two disjoint label sets together must be the count-weighted mean of
// their gradients apart (so a position without a label contributes nothing, and each labelled one
// exactly its share); and a batch without labels has loss 0 and zero gradients.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTensor } from '../../src/gpu/tensor.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { forward } from '../../src/model/forward.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import { DEFAULT_OPTIMIZER, TrainStep } from '../../src/train/step.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { crossEntropyRef } from '../ref/crossentropy.js';

const [B, T] = [2, 16];

describe.skipIf(!SHARED_DIR)(`the loss on labelled positions only${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let lora: GpuLora;
  let step: TrainStep;
  beforeAll(async () => {
    const ctx = await gpu();
    model = await LanguageModel.load(ctx, folderSource(join(SHARED_DIR!, 'models', 'stories260K')));
    lora = await GpuLora.create(ctx, await importPeft(folderSource(join(SHARED_DIR!, 'golden', 'stories260K-all-linear')), model.spec));
    step = new TrainStep(ctx, model, lora, B, T, DEFAULT_OPTIMIZER);
  });
  afterAll(() => {
    step?.destroy();
    lora?.destroy();
    model?.destroy();
  });

  const ids = Array.from({ length: B * T }, (_, i) => (i * 53 + 7) % 512);
  /** The batch with labels where `labelled(b, t)`, and the second sequence padded after `len2` positions. */
  function batch(labelled: (b: number, t: number) => boolean, len2 = T): TokenBatch {
    const attentionMask = ids.map((_, i) => (i >= T && i % T >= len2 ? 0 : 1));
    const labels = Int32Array.from(ids, (id, i) => (labelled(Math.floor(i / T), i % T) && attentionMask[i] ? id : -100));
    return { B, T, ids, labels, attentionMask };
  }
  const PATTERNS: Array<[string, TokenBatch]> = [
    ['every position', batch(() => true)],
    ['a masked prompt (the first 9 positions)', batch((_, t) => t >= 9)],
    ['a second sequence padded after 6 positions', batch(() => true, 6)],
    ['one position', batch((b, t) => b === 1 && t === 4)],
  ];

  for (const [what, b] of PATTERNS) {
    it(`gives the cross-entropy of the full logits at the labelled positions: ${what}`, async () => {
      const ctx = await gpu();
      const logits = await forward(ctx, model.weights, model.createState(B, T, lora), b.ids, T, { mask: b.attentionMask, allLogits: true, lora });
      const want = crossEntropyRef(logits, b.labels, B, T, model.spec.V);
      const got = await step.loss(b);
      expect(got.count).toBe(want.count);
      expect(Math.abs(got.loss - want.mean)).toBeLessThan(1e-5 * want.mean);
    });
  }

  it('adds up the gradients of disjoint label sets by their counts, and gives none without labels', async () => {
    const ctx = await gpu();
    const run = async (b: TokenBatch) => ({ loss: await step.gradients([b]), grads: await readTensor(ctx, lora.grads), count: (await step.loss(b)).count });
    const first = await run(batch((_, t) => t < 7));
    const second = await run(batch((_, t) => t >= 7));
    const both = await run(batch(() => true));
    expect([first.count, second.count, both.count]).toEqual([12, 18, 30]);
    let largest = 0;
    let worst = 0;
    for (let i = 0; i < both.grads.length; i++) {
      const want = (first.count * first.grads[i] + second.count * second.grads[i]) / both.count;
      largest = Math.max(largest, Math.abs(want));
      worst = Math.max(worst, Math.abs(both.grads[i] - want));
    }
    expect(largest).toBeGreaterThan(0);
    expect(worst / largest).toBeLessThan(1e-5);
    expect(Math.abs(both.loss - (first.count * first.loss + second.count * second.loss) / both.count)).toBeLessThan(1e-5 * both.loss);

    const none = await run(batch(() => false));
    expect([none.loss, none.count]).toEqual([0, 0]);
    expect(none.grads.every((g) => g === 0)).toBe(true);
  });
});
