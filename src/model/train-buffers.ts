// Every buffer a training step needs, planned once from (model, B, T, adapter) and reused by
// every step: the saved activations of each layer (llm.c's ActivationTensors), the gradient
// scratch that backward passes from layer to layer, and the chunked loss buffers. Their names,
// shapes and types come from one plan (./train-buffer-plan.ts), which the memory estimate reads too.
// Steps with fewer rows (B·T below the planned maximum) use a prefix of each buffer.
// With gradient checkpointing, one set of block activations serves every layer (the backward
// pass recomputes each layer's into it from the saved residual stream, see ./train-pass.ts),
// so the activation memory of the blocks is that of one layer instead of L; and the logits chunk
// keeps its small size at any batch (./train-buffer-plan.ts logitsChunkRows), memory being what
// checkpointing asks for.
import type { GpuContext } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import { adaptedKinds, type LayerBuffers } from './layer.js';
import type { LowRankUpdates, ProjectionKind } from './linear.js';
import { bindingLimit } from './vocab-blocks.js';
import { allocatePlan, planTrainBuffers, type AdapterShape, type TrainBufferOptions } from './train-buffer-plan.js';

export { LOGITS_CHUNK_MIN_ROWS, logitsChunkRows, type TrainBufferOptions } from './train-buffer-plan.js';

export interface TrainBuffers {
  B: number; // planned maximum batch
  T: number; // planned maximum sequence length
  ids: Tensor<'u32'>; // [B, T]
  mask: Tensor<'u32'>; // [B, T]
  targets: Tensor<'i32'>; // [B·T]: the targets of the labelled positions, packed (the first `count`)
  lossRows: Tensor<'u32'>; // [B·T]: the labelled positions b·T + t, in order (the first `count`)
  /** The CPU copy of lossRows' first `count` entries, set by writeBatch. */
  lossRowIndices: Uint32Array;
  res: Tensor<'f32'>[]; // (L + 1) × [B·T, C]: the residual stream entering each layer, and the last one's output
  /** Whether the blocks' activations are recomputed in backward (gradient checkpointing). */
  checkpoint: boolean;
  layers: LayerBuffers[]; // L × saved block activations; with checkpoint, 1 × shared by every layer (use blockBuffers)
  hF: Tensor<'f32'>; // [B·T, C] after the final norm
  meanF: Tensor<'f32'>; // [B·T]
  rstdF: Tensor<'f32'>; // [B·T]
  logitsChunk: Tensor<'f32'>; // [chunkRows, V], logits then their gradient
  chunkRows: number;
  losses: Tensor<'f32'>; // [B·T] the loss of each labelled position (packed)
  lseCE: Tensor<'f32'>; // [B·T] the log-sum-exp of each labelled position's logits (packed)
  loss: Tensor<'f32'>; // [1]
  // Gradient scratch, shared by all layers.
  dRes: Tensor<'f32'>; // [B·T, C] d loss / d residual stream
  dH: Tensor<'f32'>; // [B·T, C] d loss / d normed block input
  dAtt: Tensor<'f32'>; // [B·T, NH·HS]
  dQ: Tensor<'f32'>; // [B·T, NH·HS]
  dQ2: Tensor<'f32'>; // [B·T, NH·HS]
  dK: Tensor<'f32'>; // [B·T, KV·HS]
  dK2: Tensor<'f32'>; // [B·T, KV·HS]
  dV: Tensor<'f32'>; // [B·T, KV·HS]
  dAct: Tensor<'f32'>; // [B·T, F]
  dGate: Tensor<'f32'>; // [B·T, F]
  dUp: Tensor<'f32'>; // [B·T, F]
  dU: Tensor<'f32'>; // [B·T, R]
  attScratch: Tensor<'f32'>; // [B, NH, T, 2]
  /** [B·T, Kmax] x̃ of LoRA dropout (and then du·A), only when some update has dropout p > 0. */
  dropScratch?: Tensor<'f32'>;
  /** [1] u32: the pass number that picks LoRA dropout's masks, with dropScratch. */
  dropStep?: Tensor<'u32'>;
}

/** The widest input K of a projection whose update drops its input, or 0 when none does. */
export function dropoutWidth(spec: ModelSpec, lora: LowRankUpdates | undefined): number {
  const inputWidth: Record<ProjectionKind, number> = { q: spec.C, k: spec.C, v: spec.C, o: spec.NH * spec.HS, gate: spec.C, up: spec.C, down: spec.F };
  let K = 0;
  for (let l = 0; l < spec.L; l++) {
    for (const kind of Object.keys(inputWidth) as ProjectionKind[]) {
      if ((lora?.slot(l, kind)?.dropout?.p ?? 0) > 0) K = Math.max(K, inputWidth[kind]);
    }
  }
  return K;
}

/** Where layer l's block activations live: its own buffers, or the shared ones when checkpointing. */
export function blockBuffers(tb: TrainBuffers, l: number): LayerBuffers {
  return tb.layers[tb.checkpoint ? 0 : l];
}

/** What the plan needs of a GPU adapter (or of none): its adapted kinds, rank and dropout width. */
export function adapterShape(spec: ModelSpec, lora: LowRankUpdates | undefined): AdapterShape {
  return { ...adaptedKinds(spec, lora), dropoutWidth: dropoutWidth(spec, lora) };
}

/** Allocates exactly the tensors of planTrainBuffers(spec, B, T, adapterShape(spec, lora), options). */
export function createTrainBuffers(
  ctx: GpuContext,
  spec: ModelSpec,
  B: number,
  T: number,
  lora: LowRankUpdates | undefined,
  options: TrainBufferOptions = {},
): TrainBuffers {
  const plan = planTrainBuffers(spec, B, T, adapterShape(spec, lora), { maxBindingBytes: bindingLimit(ctx), ...options });
  return { ...allocatePlan(ctx, plan), lossRowIndices: new Uint32Array(0) };
}

/** Destroys every tensor of the buffers (with checkpointing, the one shared set of block buffers once). */
export function destroyTrainBuffers(tb: TrainBuffers): void {
  const destroy = (x: unknown): void => {
    if (x instanceof Tensor) x.destroy();
    else if (Array.isArray(x)) x.forEach(destroy);
    else if (typeof x === 'object' && x !== null && !ArrayBuffer.isView(x)) Object.values(x).forEach(destroy);
  };
  destroy(tb);
}
