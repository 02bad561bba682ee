// One training forward and backward pass on the GPU: the model with its low-rank updates on a
// batch, the causal-LM loss (chunked over rows of logits), and the gradients of every A and B.
//
// Forward: res[0] = embed(ids); res[l+1] = block_l(res[l]) saving what backward needs;
// hF = norm(res[L]); the `count` positions that have a label are gathered, in order, into
// h = hF[rows] (rows: tb.lossRows), and per chunk of those rows: logits = h·Headᵀ, per-row loss
// and lse. Positions without a label (prompt tokens, padding, each sequence's last position) get
// no logits at all: the LM head is the largest product of small models (V·C per position), and
// their loss gradient is zero anyway.
// Backward (frozen base weights, so only activation gradients and the LoRA A/B gradients):
// per chunk, dlogits = (softmax − onehot)/count in place (times the softcap's derivative where the
// model softcaps its logits), dh = dlogits·Head; dhF = zeros with
// dh scattered back to the rows; then dRes = d norm(res[L]); each block from the last
// (blockBackward, ./block.ts) takes dRes from d loss / d res[l+1] to d loss / d res[l].
// Buffers: h lives in dRes and dh in hF, both free at that point (dRes is first written by the
// final norm's backward; hF has no reader after the gather).
// Dimension letters as in ./block.ts.
//
// Gradient checkpointing (tb.checkpoint): the residual stream res[0..L] is saved as always, but
// every block writes its intermediates (norms, q/k/v, attention, MLP, LoRA u) into one shared
// set of buffers, which after the forward pass holds layer L−1's. Backward then runs, for
// l = L−1 down to 0: recompute block l from res[l] into the shared buffers (not for l = L−1,
// whose intermediates are still there), then block l's backward. The recomputation also writes
// res[l+1] again, with the same values: nothing reads res[l+1] after block l+1's backward. Every
// kernel is deterministic and LoRA dropout's masks are hashed from (seed, pass, stream, element),
// so the recomputed intermediates equal the first ones bit for bit, and so do the gradients. The
// cost is one more forward pass of L−1 blocks; the saving is L−1 sets of block activations.
import type { Recorder } from '../gpu/kernel.js';
import { crossentropyBackward, crossentropyForward, lossMean, shiftedTargets } from '../gpu/kernels/crossentropy.js';
import { writeDropoutStep } from '../gpu/kernels/dropout.js';
import { assertTokenIds } from '../gpu/kernels/embedding.js';
import { gatherRows, scatterRows } from '../gpu/kernels/gather-rows.js';
import { writeTensor } from '../gpu/tensor.js';
import { blockBackward, blockForward, normBackward, normForward } from './block.js';
import { embedTokens, headInputGrad, headLogits } from './ends.js';
import type { ForwardWeights } from './layer.js';
import type { DropoutPass, LowRankUpdates } from './linear.js';
import { blockBuffers, type TrainBuffers } from './train-buffers.js';

/** A padded batch: ids, labels (−100 = no loss) and attention mask, each [B, T] row-major. */
export interface TokenBatch {
  B: number;
  T: number;
  ids: ArrayLike<number>;
  labels: Int32Array;
  attentionMask: ArrayLike<number>;
}

/** Upload a batch; returns how many positions its loss counts. */
export function writeBatch(tb: TrainBuffers, m: ForwardWeights, batch: TokenBatch, ctx: Recorder['ctx']): number {
  const { B, T } = batch;
  if (B > tb.B || T > tb.T) throw new Error(`batch [${B}, ${T}] is larger than the planned [${tb.B}, ${tb.T}]`);
  if (batch.ids.length !== B * T || batch.labels.length !== B * T || batch.attentionMask.length !== B * T) {
    throw new Error(`batch arrays must each hold B·T = ${B * T} entries`);
  }
  const rows = writeTokens(ctx, tb, m.spec, batch);
  tb.lossRowIndices = rows;
  return rows.length;
}

/**
 * Writes a batch's token ids, attention mask and loss targets to the GPU: the labelled positions
 * (rows of the flattened [B, T] batch, in order) into lossRows and their next-token targets,
 * packed the same way, into targets. Returns the labelled rows. Checks the ids and the length.
 */
export function writeTokens(
  ctx: Recorder['ctx'],
  tb: Pick<TrainBuffers, 'ids' | 'mask' | 'targets' | 'lossRows'>,
  spec: ForwardWeights['spec'],
  batch: TokenBatch,
): Uint32Array {
  const { B, T } = batch;
  if (T > spec.maxPositions) throw new Error(`sequence length ${T} is past the model's ${spec.maxPositions} positions`);
  assertTokenIds(batch.ids, spec.V);
  const { targets, count } = shiftedTargets(batch.labels, B, T, spec.V);
  const rows = new Uint32Array(count);
  const packed = new Int32Array(count);
  for (let i = 0, j = 0; i < targets.length; i++) if (targets[i] >= 0) [rows[j], packed[j++]] = [i, targets[i]];
  writeTensor(ctx, tb.ids, batch.ids);
  writeTensor(ctx, tb.mask, batch.attentionMask);
  if (count > 0) {
    writeTensor(ctx, tb.targets, packed);
    writeTensor(ctx, tb.lossRows, rows);
  }
  return rows;
}

/** What recordTrainPass runs: the batch's shape and counted positions, the adapter, and whether to go backward. */
export interface TrainPassOptions {
  B: number;
  T: number;
  /** The counted (labelled) positions writeBatch found. */
  count: number;
  /** The adapter whose updates the projections add (none: the base model). */
  lora?: LowRankUpdates;
  /**
   * The backward pass too, adding into the LoRA gradients: gradScale is d total loss / d summed
   * position losses (e.g. 1/count); dropoutStep (a u32, different for every training pass) turns
   * on LoRA dropout where the adapter has it. Without `backward`: the loss only (evaluation never
   * drops).
   */
  backward?: { gradScale: number; dropoutStep?: number };
}

/**
 * Record the forward pass and loss of the batch written by writeBatch (B·T rows), leaving
 * tb.loss = the mean loss over its `count` counted positions, and with `backward` the backward pass.
 */
export function recordTrainPass(rec: Recorder, m: ForwardWeights, tb: TrainBuffers, { B, T, count, lora, backward }: TrainPassOptions): void {
  const gradScale = backward?.gradScale ?? null;
  const dropoutStep = backward?.dropoutStep;
  const { spec } = m;
  const { C, V, L } = spec;
  const M = B * T;
  let pass: DropoutPass | undefined;
  if (gradScale !== null && dropoutStep !== undefined && tb.dropScratch && tb.dropStep) {
    // Before anything of this pass is recorded: its launches read the step when they run.
    writeDropoutStep(rec.ctx, tb.dropStep, dropoutStep);
    pass = { step: tb.dropStep, scratch: tb.dropScratch };
  }
  // res[l+1] = block_l(res[l]), its intermediates saved in blockBuffers(tb, l) (shared when checkpointing).
  const block = (l: number) =>
    blockForward(rec, m, l, { out: tb.res[l + 1], x: tb.res[l], mask: tb.mask, buf: blockBuffers(tb, l), dims: { B, T, S: T, pos0: 0 }, lora, pass });
  embedTokens(rec, m, tb.res[0], tb.ids, { B, T, pos0: 0 });
  for (let l = 0; l < L; l++) block(l);
  normForward(rec, spec, { out: tb.hF, mean: tb.meanF, rstd: tb.rstdF, input: tb.res[L], weight: m.weights.finalNorm, bias: m.weights.finalNormBias, rows: M });

  // h = hF[rows] in dRes; then per chunk, the logits, loss and (training) dh, into hF.
  const rowIndices = tb.lossRowIndices;
  if (rowIndices.length !== count) throw new Error(`recordTrainPass: ${count} counted positions, but writeBatch found ${rowIndices.length}`);
  const h = tb.dRes;
  const dh = tb.hF;
  gatherRows(rec, h, tb.hF, tb.lossRows, { n: count, C, indexedRows: M }, rowIndices);
  for (let row0 = 0; row0 < count; row0 += tb.chunkRows) {
    const rows = Math.min(tb.chunkRows, count - row0);
    headLogits(rec, m, tb.logitsChunk, h.view(row0 * C, [rows, C]), rows);
    crossentropyForward(rec, tb.losses, tb.lseCE, tb.logitsChunk, tb.targets, { rows, V, row0 });
    if (gradScale === null) continue;
    // (With a final softcap the gradient goes on through it, to the head's raw logits.)
    crossentropyBackward(rec, tb.logitsChunk, tb.lseCE, tb.targets, { rows, V, row0, dscale: gradScale, softcap: spec.finalSoftcap });
    // dAct is free until the layers' backward: scratch for splitting the long sum over the vocabulary.
    headInputGrad(rec, m, dh.view(row0 * C, [rows, C]), tb.logitsChunk, rows, tb.dAct);
  }
  lossMean(rec, tb.loss, tb.losses, { n: count, scale: count > 0 ? 1 / count : 0 });
  if (gradScale === null) return;

  rec.clear(tb.dH.view(0, [M, C]));
  scatterRows(rec, tb.dH, dh, tb.lossRows, { n: count, C, indexedRows: M }, rowIndices);
  normBackward(rec, spec, { dinput: tb.dRes, dout: tb.dH, input: tb.res[L], weight: m.weights.finalNorm, mean: tb.meanF, rstd: tb.rstdF, rows: M });
  for (let l = L - 1; l >= 0; l--) {
    // Checkpointing: the shared buffers hold layer l+1's intermediates; recompute layer l's
    // (the same pass, so the same dropout masks) before its backward reads them.
    if (tb.checkpoint && l < L - 1) block(l);
    // tb.dRes: d loss / d res[l+1] → d loss / d res[l]. The logits chunk, done with by now, is
    // the LoRA weight gradients' scratch for partial sums.
    blockBackward(rec, m, l, { dres: tb.dRes, x: tb.res[l], mask: tb.mask, buf: blockBuffers(tb, l), grads: tb, dims: { B, T }, lora, pass, partials: tb.logitsChunk });
  }
}
