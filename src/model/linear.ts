// A frozen linear layer with an optional low-rank update (LoRA), forward and backward.
// Dimension letters as in ./block.ts: M rows, K inputs, N outputs, R the LoRA rank.
//
//   y = x·Wᵀ (+ b) + s·u·Bᵀ,   u = x̃·Aᵀ
// x [M, K]; W [N, K] frozen; b [N] frozen; A [R, K], B [N, R] trained; u [M, R] saved for backward.
// x̃ = x, except in a training pass of an update with dropout p > 0 (PEFT's lora_dropout), where
// x̃ = x ⊙ mask / (1 − p) with mask ∈ {0, 1}^[M, K] hashed from (seed, step, stream, element) on
// the GPU (src/gpu/kernels/dropout.ts). x̃ lives in a scratch buffer only while it is used: the
// backward pass regenerates it from the same hash instead of saving it.
// Backward, given dy [M, N] (W and b get no gradient):
//   dB += s·dyᵀ·u;  du = s·dy·B;  dA += duᵀ·x̃;  dx (+)= dy·W + (du·A) ⊙ mask / (1 − p)
// (the base path dy·W is never dropped; without dropout the mask term is just du·A).
// The A/B gradients always accumulate: the trainer zeroes them at the start of each optimizer
// step, which also lets several projections share one A (GPT-2's fused q/k/v) and lets
// micro-batches accumulate.
//
// Launches. Forward: u = x̃·Aᵀ, then out = x·Wᵀ (+ b) + s·u·Bᵀ in one launch (matmulLoraForward);
// backward without dropout: dB += s·dyᵀ·u, du = s·dy·B, dA += duᵀ·x̃, then dx (+)= dy·W + du·A in
// one launch (matmulLoraBackward). The fused launches add the low-rank term in the epilogue of
// whichever matmul kernel the device and shape take (src/gpu/kernels/matmul/), and round
// exactly as the separate launches do (out = x·Wᵀ (+ b), then out += s·u·Bᵀ; dx (+)= dy·W, then
// dx += du·A), so both compositions give the same bits (test/model/lora-fusion.test.ts compares
// them, switching the fusion off with `loraFusion`, on the SwiftShader and on the GPU kernels).
// Where a fused form does not exist (decoding's few rows, a rank that is not a multiple of 4, and
// on the barrier-free kernels a K that is not one) the separate launches run. With dropout the
// backward's second term is (du·A) ⊙ mask / (1 − p): a launch of its own.
import type { Recorder } from '../gpu/kernel.js';
import { dropoutForward } from '../gpu/kernels/dropout.js';
import { loraForward } from '../gpu/kernels/lora.js';
import { canFuseLoraForward, matmulForward, matmulLoraForward } from '../gpu/kernels/matmul/forward.js';
import { canFuseLoraBackward, matmulBackward, matmulLoraBackward } from '../gpu/kernels/matmul/backward.js';
import { matmulWeightGrad } from '../gpu/kernels/matmul/weight-grad.js';
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
  /**
   * Dropout on the update's input in training passes, when p > 0: seed and stream (u32) pick
   * this projection's masks; projections that share A (GPT-2's q/k/v) share the stream.
   */
  dropout?: { p: number; seed: number; stream: number };
}

/** The projections of a layer by name; LoRA implements this. */
export type ProjectionKind = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
export interface LowRankUpdates {
  slot(layer: number, kind: ProjectionKind): LowRankUpdate | undefined;
}

/**
 * What a training pass gives the layers so that LoRA dropout draws its masks: a one-element u32
 * buffer holding the pass number (every pass needs its own masks; written with writeDropoutStep
 * before the pass is recorded, so that the launches' bind groups stay the same from pass to pass)
 * and a scratch buffer of at least M·K elements for x̃. Inference and evaluation give none, and
 * nothing is dropped.
 */
export interface DropoutPass {
  step: Tensor<'u32'>;
  scratch: Tensor<'f32'>;
}

/** A projection's rows M, outputs N and inputs K (the legend: ./block.ts). */
export interface LinearDims {
  M: number;
  N: number;
  K: number;
}

/**
 * Whether linearForward and linearBackward fuse launches where the device and shapes allow (see
 * the header). On by default; a test turns it off to compare against the separate launches.
 */
export const loraFusion = { enabled: true };

/** Whether this projection drops its LoRA input in this pass. */
const drops = (lora: LowRankUpdate, pass: DropoutPass | undefined): pass is DropoutPass => !!pass && !!lora.dropout && lora.dropout.p > 0;

/** x̃ = x ⊙ mask/(1 − p), [M, K], written into the pass's scratch buffer. */
function droppedInput(rec: Recorder, x: Tensor, lora: LowRankUpdate, pass: DropoutPass, M: number, K: number): Tensor {
  const xd = pass.scratch.view(0, [M, K]);
  dropoutForward(rec, xd, x, pass.step, { n: M * K, ...lora.dropout! });
  return xd;
}

export interface LinearForwardArgs {
  out: Tensor; // y [M, N]
  input: Tensor; // x [M, K]
  weight: Tensor; // W [N, K], frozen (f32 or f16)
  bias?: Tensor; // b [N], frozen
  /** The low-rank update; without one, out = x·Wᵀ (+ b). */
  lora?: LowRankUpdate;
  /** u = x̃·Aᵀ [M, R]: written here (lora.computesU), or read as another projection wrote it. */
  u?: Tensor;
  dims: LinearDims;
  /** A training pass: the update's input is dropped where it has dropout. */
  pass?: DropoutPass;
}

/** out = x·Wᵀ (+ b) (+ s·(x̃·Aᵀ)·Bᵀ, with u = x̃·Aᵀ written to `u`). */
export function linearForward(rec: Recorder, { out, input: x, weight, bias, lora, u, dims, pass }: LinearForwardArgs): void {
  const { M, N, K } = dims;
  if (!lora) return matmulForward(rec, out, x, weight, bias ?? null, { M, N, K });
  if (!u) throw new Error('linearForward: a LoRA projection needs a buffer for u = x·Aᵀ');
  const { R, scale } = lora;
  const fused = loraFusion.enabled && canFuseLoraForward(rec, { M, K, R });
  if (!fused) matmulForward(rec, out, x, weight, bias ?? null, { M, N, K });
  if (lora.computesU) {
    const xin = drops(lora, pass) ? droppedInput(rec, x, lora, pass, M, K) : x;
    matmulForward(rec, u, xin, lora.A, null, { M, N: R, K });
  }
  if (fused) matmulLoraForward(rec, out, x, weight, bias ?? null, u, lora.B, { M, N, K, R, scale });
  else loraForward(rec, out, u, lora.B, { M, N, R, scale });
}

export interface LinearBackwardArgs {
  dinput: Tensor; // dx [M, K]
  dout: Tensor; // dy [M, N]
  input: Tensor; // x [M, K], as linearForward was given it
  weight: Tensor; // W [N, K]
  /** The low-rank update; its dA and dB are accumulated. Without one, dx (+)= dy·W only. */
  lora?: LowRankUpdate;
  /** u [M, R] as linearForward left it. */
  u?: Tensor;
  /** du [M, R] scratch. */
  du?: Tensor;
  dims: LinearDims;
  /** Add into dinput instead of overwriting it (default false). dA and dB are always added into. */
  accumulate?: boolean;
  /** The pass linearForward was given (the same dropout masks). */
  pass?: DropoutPass;
  /**
   * Scratch free during the call: dA and dB split their sums over the M rows, and du its sum over
   * the N outputs, across more workgroups on GPUs (matmulWeightGrad, matmulBackward). Without it
   * nothing splits.
   */
  partials?: Tensor;
}

/** dx (+)= dy·W (+ the LoRA term), and the LoRA gradients dA, dB accumulated (see the header). */
export function linearBackward(rec: Recorder, { dinput: dx, dout: dy, input: x, weight, lora, u, du, dims, accumulate = false, pass, partials }: LinearBackwardArgs): void {
  const { M, N, K } = dims;
  if (!lora) return matmulBackward(rec, dx, dy, weight, { M, N, K, accumulate });
  if (!u || !du) throw new Error('linearBackward: a LoRA projection needs u and a du buffer');
  const { R, scale } = lora;
  // Fused: dx is written once, last (nothing before reads it).
  const fused = !drops(lora, pass) && loraFusion.enabled && canFuseLoraBackward(rec, { M, N, K, R }, weight, dy);
  if (!fused) matmulBackward(rec, dx, dy, weight, { M, N, K, accumulate });
  matmulWeightGrad(rec, lora.dB, dy, u, { M, N, K: R, scale, accumulate: true }, partials);
  matmulBackward(rec, du, dy, lora.B, { M, N, K: R, scale }, partials);
  if (!drops(lora, pass)) {
    matmulWeightGrad(rec, lora.dA, du, x, { M, N: R, K, accumulate: true }, partials);
    if (fused) matmulLoraBackward(rec, dx, dy, weight, du, lora.A, { M, N, K, R, accumulate });
    else matmulBackward(rec, dx, du, lora.A, { M, N: R, K, accumulate: true });
    return;
  }
  // dA += duᵀ·x̃ with x̃ regenerated; then the scratch holds du·A, and dx += (du·A) ⊙ mask/(1 − p).
  const xd = droppedInput(rec, x, lora, pass, M, K);
  matmulWeightGrad(rec, lora.dA, du, xd, { M, N: R, K, accumulate: true }, partials);
  matmulBackward(rec, xd, du, lora.A, { M, N: R, K });
  dropoutForward(rec, dx, xd, pass.step, { n: M * K, ...lora.dropout!, accumulate: true });
}
