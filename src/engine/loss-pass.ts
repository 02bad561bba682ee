// Evaluation without training: the mean loss of a model (with or without a low-rank adapter) on
// formatted rows, from the training forward pass and its chunked loss (../model/train-pass.ts)
// with no backward. Its buffers are planned for a loss alone: one residual stream updated in place
// and one set of block activations that every layer reuses (as inference does, ../model/forward.ts),
// the final norm, and one chunk of logits. No gradient buffer, no optimizer state.
//
// Everything that decides the numbers is the training pass's: the kernels and their shapes, the
// batches (rows in order, batchSize at a time, padded by paddedLength up to the longest row), the
// logits chunk (logitsChunkRows of the planned batchSize × longest rows), and the per-batch GPU mean
// summed on the CPU as Σ loss·count / Σ count. So with the same adapter the loss equals
// Trainer.meanLoss's bit for bit.
//
// Dimension letters: B batch rows, T positions, M = B·T, C model width, V vocabulary.
import type { GpuContext } from '../gpu/device.js';
import { Recorder } from '../gpu/kernel.js';
import { crossentropyForward, lossMean } from '../gpu/kernels/crossentropy.js';
import { gatherRows } from '../gpu/kernels/gather-rows.js';
import { createTensor, readTensor, type Tensor } from '../gpu/tensor.js';
import { blockForward, normForward } from '../model/block.js';
import { embedTokens, headLogits } from '../model/ends.js';
import { adaptedKinds, createLayerBuffers, destroyLayerBuffers, type ForwardWeights, type LayerBuffers } from '../model/layer.js';
import type { LowRankUpdates } from '../model/linear.js';
import { logitsChunkRows } from '../model/train-buffer-plan.js';
import { bindingLimit } from '../model/vocab-blocks.js';
import { writeTokens } from '../model/train-pass.js';
import { makeBatch, paddedLength, type Batch } from '../train/batches.js';
import type { TokenRow } from '../train/prepare.js';

export interface LossPassOptions {
  /** Rows per batch (the training default, 4, gives the numbers a trainer's loss pass gives). */
  batchSize: number;
  /** The longest row in tokens: the planned T. */
  longest: number;
  /** The id that pads rows to the batch's length. */
  padId: number;
}

interface LossBuffers {
  ids: Tensor<'u32'>; // [B, T]
  mask: Tensor<'u32'>; // [B, T]
  targets: Tensor<'i32'>; // [M]: the targets of the labelled positions, packed
  lossRows: Tensor<'u32'>; // [M]: the labelled positions b·T + t, in order
  x: Tensor<'f32'>; // [M, C]: the residual stream, each layer in place; then the labelled rows of hF
  block: LayerBuffers; // one layer's activations, reused by every layer
  hF: Tensor<'f32'>; // [M, C] after the final norm
  logitsChunk: Tensor<'f32'>; // [chunkRows, V]
  chunkRows: number;
  losses: Tensor<'f32'>; // [M]: the loss of each labelled position, packed
  lse: Tensor<'f32'>; // [M]: the log-sum-exp of each labelled position's logits, packed
  loss: Tensor<'f32'>; // [1]: the batch's mean loss
}

/** The token-weighted mean loss over every target token of `rows`; 0 when they have none. */
export async function meanLoss(ctx: GpuContext, m: ForwardWeights, lora: LowRankUpdates | undefined, rows: TokenRow[], opts: LossPassOptions): Promise<number> {
  const { batchSize, longest, padId } = opts;
  const tb = createLossBuffers(ctx, m, lora, batchSize, longest);
  try {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < rows.length; i += batchSize) {
      const part = rows.slice(i, i + batchSize);
      const batch = makeBatch(part, padId, paddedLength(Math.max(...part.map((r) => r.ids.length)), longest));
      const n = await batchLoss(ctx, m, lora, tb, batch);
      sum += n.loss * n.count;
      count += n.count;
    }
    return count > 0 ? sum / count : 0;
  } finally {
    destroyLossBuffers(tb);
  }
}

function createLossBuffers(ctx: GpuContext, m: ForwardWeights, lora: LowRankUpdates | undefined, B: number, T: number): LossBuffers {
  const { C, V } = m.spec;
  const M = B * T;
  const f = (shape: number[], label: string) => createTensor(ctx, shape, 'f32', undefined, `eval.${label}`);
  const { kinds, R } = adaptedKinds(m.spec, lora);
  const chunkRows = logitsChunkRows(V, M, C, bindingLimit(ctx));
  return {
    ids: createTensor(ctx, [B, T], 'u32', undefined, 'eval.ids'),
    mask: createTensor(ctx, [B, T], 'u32', undefined, 'eval.mask'),
    targets: createTensor(ctx, [M], 'i32', undefined, 'eval.targets'),
    lossRows: createTensor(ctx, [M], 'u32', undefined, 'eval.lossRows'),
    x: f([M, C], 'x'),
    block: createLayerBuffers(ctx, m.spec, B, T, R, kinds, 'eval.block'),
    hF: f([M, C], 'hF'),
    logitsChunk: f([chunkRows, V], 'logitsChunk'),
    chunkRows,
    losses: f([M], 'losses'),
    lse: f([M], 'lse'),
    loss: f([1], 'loss'),
  };
}

function destroyLossBuffers(tb: LossBuffers): void {
  destroyLayerBuffers(tb.block);
  for (const t of [tb.ids, tb.mask, tb.targets, tb.lossRows, tb.x, tb.hF, tb.logitsChunk, tb.losses, tb.lse, tb.loss]) t.destroy();
}

/** One batch's mean loss and the positions it counts: embed → L × block (in place) → norm → per chunk of labelled rows, logits and loss. */
async function batchLoss(ctx: GpuContext, m: ForwardWeights, lora: LowRankUpdates | undefined, tb: LossBuffers, batch: Batch): Promise<{ loss: number; count: number }> {
  const { spec } = m;
  const { C, V, L } = spec;
  const { B, T } = batch;
  const M = B * T;
  const rows = writeTokens(ctx, tb, spec, batch);
  const count = rows.length;

  const rec = new Recorder(ctx, 'eval');
  const dims = { B, T, S: T, pos0: 0 };
  embedTokens(rec, m, tb.x, tb.ids, { B, T, pos0: 0 });
  for (let l = 0; l < L; l++) blockForward(rec, m, l, { out: tb.x, x: tb.x, mask: tb.mask, buf: tb.block, dims, lora });
  normForward(rec, spec, { out: tb.hF, mean: tb.block.mean1, rstd: tb.block.rstd1, input: tb.x, weight: m.weights.finalNorm, bias: m.weights.finalNormBias, rows: M });
  // h = hF[rows] into x (free after the final norm), then the logits and loss of each chunk of them.
  const h = tb.x;
  gatherRows(rec, h, tb.hF, tb.lossRows, { n: count, C, indexedRows: M }, rows);
  for (let row0 = 0; row0 < count; row0 += tb.chunkRows) {
    const n = Math.min(tb.chunkRows, count - row0);
    headLogits(rec, m, tb.logitsChunk, h.view(row0 * C, [n, C]), n);
    crossentropyForward(rec, tb.losses, tb.lse, tb.logitsChunk, tb.targets, { rows: n, V, row0 });
  }
  lossMean(rec, tb.loss, tb.losses, { n: count, scale: count > 0 ? 1 / count : 0 });
  rec.submit();
  return { loss: (await readTensor(ctx, tb.loss))[0], count };
}
