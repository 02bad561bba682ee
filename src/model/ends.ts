// The two ends of the model that inference (./forward.ts), training (./train-pass.ts) and
// evaluation (../engine/loss-pass.ts) share: the token embedding (with Gemma's √C scale and
// GPT-2's learned positions) and the LM head's logits (with Gemma's final logit softcapping).
// Dimension letters as in ./block.ts.
import type { Recorder } from '../gpu/kernel.js';
import { embeddingForward } from '../gpu/kernels/embedding.js';
import { matmulForward } from '../gpu/kernels/matmul/forward.js';
import { softcapForward } from '../gpu/kernels/softcap.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ForwardWeights } from './layer.js';

/** out [B, T, C] = embed[ids]·embedScale (+ positions[pos0 + t]); ids: u32 [B, T]. */
export function embedTokens(rec: Recorder, m: ForwardWeights, out: Tensor, ids: Tensor, { B, T, pos0 }: { B: number; T: number; pos0: number }): void {
  const { C, V, embedScale } = m.spec;
  embeddingForward(rec, out, ids, m.weights.embed, m.weights.positions ?? null, { B, T, C, V, pos0, ...(embedScale !== 1 ? { scale: embedScale } : {}) });
}

/**
 * logits [rows, V] = h·Headᵀ for h [rows, C], softcapped to c·tanh(logits / c) where the model has
 * a final logit softcap c (its gradient: crossentropyBackward's softcap, spec.finalSoftcap).
 */
export function headLogits(rec: Recorder, m: ForwardWeights, logits: Tensor, h: Tensor, rows: number): void {
  const { C, V, finalSoftcap } = m.spec;
  matmulForward(rec, logits, h, m.weights.lmHead, null, { M: rows, N: V, K: C });
  if (finalSoftcap !== null) softcapForward(rec, logits, { n: rows * V, cap: finalSoftcap });
}
