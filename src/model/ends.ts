// The two ends of the model that inference (./forward.ts), training (./train-pass.ts) and
// evaluation (../engine/loss-pass.ts) share: the token embedding (with Gemma's √C scale and
// GPT-2's learned positions), the LM head's logits (with Gemma's final logit softcapping) and the
// head's input gradient. The embedding and the head come in blocks of vocabulary rows where they
// are larger than one binding (./vocab-blocks.ts): one launch per block.
// Dimension letters as in ./block.ts; V_b the rows of block b, v_b its first row.
import type { Recorder } from '../gpu/kernel.js';
import { embeddingForward } from '../gpu/kernels/embedding.js';
import { matmulBackward } from '../gpu/kernels/matmul/backward.js';
import { matmulForward } from '../gpu/kernels/matmul/forward.js';
import { softcapForward } from '../gpu/kernels/softcap.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ForwardWeights } from './layer.js';
import { withFirstRows } from './vocab-blocks.js';

/** out [B, T, C] = embed[ids]·embedScale (+ positions[pos0 + t]); ids: u32 [B, T]; each block writes its tokens' rows. */
export function embedTokens(rec: Recorder, m: ForwardWeights, out: Tensor, ids: Tensor, { B, T, pos0 }: { B: number; T: number; pos0: number }): void {
  const { C, V, embedScale } = m.spec;
  const blocks = m.weights.embed;
  for (const { block, row0, rows } of withFirstRows(blocks)) {
    const dims = { B, T, C, V, pos0, ...(embedScale !== 1 ? { scale: embedScale } : {}), ...(blocks.length > 1 ? { block: { row0, rows } } : {}) };
    embeddingForward(rec, out, ids, block, m.weights.positions ?? null, dims);
  }
}

/**
 * logits [rows, V] = h·Headᵀ for h [rows, C] (block b writes columns v_b .. v_b + V_b − 1:
 * h·Head_bᵀ), softcapped to c·tanh(logits / c) where the model has a final logit softcap c (its
 * gradient: crossentropyBackward's softcap, spec.finalSoftcap).
 */
export function headLogits(rec: Recorder, m: ForwardWeights, logits: Tensor, h: Tensor, rows: number): void {
  const { C, V, finalSoftcap } = m.spec;
  for (const { block, row0, rows: Vb } of withFirstRows(m.weights.lmHead)) {
    matmulForward(rec, logits, h, block, null, { M: rows, N: Vb, K: C, ld: V, col0: row0 });
  }
  if (finalSoftcap !== null) softcapForward(rec, logits, { n: rows * V, cap: finalSoftcap });
}

/**
 * dh [rows, C] = dlogits·Head = Σ_b dlogits[:, v_b .. v_b + V_b − 1]·Head_b for dlogits [rows, V],
 * each block's launch continuing the sum of those before it (continueSum: on the barrier-free
 * kernels the unsplit head's bits). `partials`, scratch free during the call, lets the long sum
 * over the vocabulary split over more workgroups on GPUs (matmulBackward).
 */
export function headInputGrad(rec: Recorder, m: ForwardWeights, dh: Tensor, dlogits: Tensor, rows: number, partials: Tensor): void {
  const { C, V } = m.spec;
  for (const { block, row0, rows: Vb } of withFirstRows(m.weights.lmHead)) {
    matmulBackward(rec, dh, dlogits, block, { M: rows, N: Vb, K: C, ld: V, col0: row0, continueSum: row0 > 0 }, partials);
  }
}
