// A frozen linear layer with an optional low-rank update (LoRA), forward and backward.
//
//   y = x·Wᵀ (+ b) + s·u·Bᵀ,   u = x·Aᵀ
// x [M, K]; W [N, K] frozen; b [N] frozen; A [R, K], B [N, R] trained; u [M, R] saved for backward.
// Backward, given dy [M, N] (W and b get no gradient):
//   dB += s·dyᵀ·u;  du = s·dy·B;  dA += duᵀ·x;  dx (+)= dy·W + du·A.
// The A/B gradients always accumulate: the trainer zeroes them at the start of each optimizer
// step, which also lets several projections share one A (GPT-2's fused q/k/v) and lets
// micro-batches accumulate.
import type { Recorder } from '../gpu/kernel.js';
import { loraForward } from '../gpu/kernels/lora.js';
import { matmulForward } from '../gpu/kernels/matmul.js';
import { matmulBackward, matmulWeightGrad } from '../gpu/kernels/matmul-backward.js';
import type { Tensor } from '../gpu/tensor.js';

/** The low-rank update of one projection (the model knows nothing else about LoRA). */
export interface LowRankUpdate {
  R: number;
  scale: number;
  A: Tensor<'f32'>; // [R, K]
  B: Tensor<'f32'>; // [N, R]
  dA: Tensor<'f32'>; // [R, K]
  dB: Tensor<'f32'>; // [N, R]
  /** False when another projection of the same input already computed u = x·Aᵀ with the same A. */
  computesU: boolean;
}

/** The projections of a layer by name; LoRA implements this. */
export type ProjectionKind = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
export interface LowRankUpdates {
  slot(layer: number, kind: ProjectionKind): LowRankUpdate | undefined;
}

export interface LinearDims {
  M: number;
  N: number;
  K: number;
}

/** out = x·Wᵀ (+ b) (+ s·(x·Aᵀ)·Bᵀ, with u = x·Aᵀ written to `u`). */
export function linearForward(
  rec: Recorder,
  out: Tensor,
  u: Tensor | undefined,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  lora: LowRankUpdate | undefined,
  { M, N, K }: LinearDims,
): void {
  matmulForward(rec, out, x, weight, bias ?? null, { M, N, K });
  if (!lora) return;
  if (!u) throw new Error('linearForward: a LoRA projection needs a buffer for u = x·Aᵀ');
  if (lora.computesU) matmulForward(rec, u, x, lora.A, null, { M, N: lora.R, K });
  loraForward(rec, out, u, lora.B, { M, N, R: lora.R, scale: lora.scale });
}

/** dx (+)= dy·W (+ du·A), and the LoRA gradients dA, dB accumulated. `du` is [M, R] scratch. */
export function linearBackward(
  rec: Recorder,
  dx: Tensor,
  du: Tensor | undefined,
  dy: Tensor,
  x: Tensor,
  u: Tensor | undefined,
  weight: Tensor,
  lora: LowRankUpdate | undefined,
  { M, N, K }: LinearDims,
  accumulateDx: boolean,
): void {
  matmulBackward(rec, dx, dy, weight, { M, N, K, accumulate: accumulateDx });
  if (!lora) return;
  if (!u || !du) throw new Error('linearBackward: a LoRA projection needs u and a du buffer');
  const { R, scale } = lora;
  matmulWeightGrad(rec, lora.dB, dy, u, { M, N, K: R, scale, accumulate: true });
  matmulBackward(rec, du, dy, lora.B, { M, N, K: R, scale });
  matmulWeightGrad(rec, lora.dA, du, x, { M, N: R, K, accumulate: true });
  matmulBackward(rec, dx, du, lora.A, { M, N: R, K, accumulate: true });
}
