// What one layer's block reads and writes (./block.ts computes it): the model's frozen weights
// with its RoPE tables, and the block's intermediates, one set per layer in training (saved for
// backward) or one shared by every layer (inference; training with gradient checkpointing).
// Dimension letters as in ./block.ts.
import type { GpuContext } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import type { GpuModelWeights } from './gpu-weights.js';
import type { LowRankUpdates, ProjectionKind } from './linear.js';
import { allocatePlan, planLayerBuffers } from './train-buffer-plan.js';

export interface ForwardWeights {
  spec: ModelSpec;
  weights: GpuModelWeights;
  ropeCos?: Tensor<'f32'>; // [R·P, HS/2]: spec.ropes' tables one after the other (./rope.ts)
  ropeSin?: Tensor<'f32'>; // [R·P, HS/2]
}

/** Where a block puts its intermediates: per layer in training (saved), shared in inference. */
export interface LayerBuffers {
  h1: Tensor; // [M, C] normed block input
  mean1: Tensor; // [M] LayerNorm mean (GPT-2)
  rstd1: Tensor; // [M]
  q: Tensor; // [M, NH·HS] projection outputs
  k: Tensor; // [M, KV·HS]
  v: Tensor; // [M, KV·HS]
  qn: Tensor; // [M, NH·HS] after the per-head norm (qwen3; otherwise unused)
  kn: Tensor; // [M, KV·HS]
  rstdQ: Tensor; // [M·NH]
  rstdK: Tensor; // [M·KV]
  qr: Tensor; // [M, NH·HS] after RoPE: the attention's queries
  kr: Tensor; // [M, KV·HS] after RoPE: the attention's keys
  att: Tensor; // [M, NH·HS] attention output
  lse: Tensor; // [B, NH, T] its log-sum-exp per query row
  proj: Tensor; // [M, C] o_proj / down_proj output (scratch; Gemma: down_proj's, saved)
  xMid: Tensor; // [M, C] residual stream after attention
  h2: Tensor; // [M, C]
  mean2: Tensor; // [M]
  rstd2: Tensor; // [M]
  gate: Tensor; // [M, F]
  up: Tensor; // [M, F]
  act: Tensor; // [M, F]
  // Gemma's post-norms (spec.postNorms; absent otherwise): the o_proj output, kept for the
  // post-attention norm's backward (proj keeps down_proj's), the post-norms' output and rstds.
  oOut?: Tensor; // [M, C]
  post?: Tensor; // [M, C] (scratch: the normed o / down output, until its residual add)
  rstdPost1?: Tensor; // [M] post_attention_layernorm
  rstdPost2?: Tensor; // [M] post_feedforward_layernorm
  /** u = x·Aᵀ [M, R] of each adapted projection (GPT-2's k and v reuse q's). */
  u: Partial<Record<ProjectionKind, Tensor>>;
}

/**
 * Block buffers for M rows (B·T), with u buffers of rank R for the projections in `adapted`: the
 * tensors planLayerBuffers plans (./train-buffer-plan.ts, the one source of their shapes).
 */
export function createLayerBuffers(ctx: GpuContext, spec: ModelSpec, B: number, T: number, R: number, adapted: ProjectionKind[], label: string): LayerBuffers {
  return allocatePlan(ctx, planLayerBuffers(spec, B, T, { kinds: adapted, R }, label));
}

export function destroyLayerBuffers(b: LayerBuffers): void {
  for (const [key, t] of Object.entries(b)) {
    if (key === 'u') Object.values(t as LayerBuffers['u']).forEach((x) => x?.destroy());
    else (t as Tensor | undefined)?.destroy();
  }
}

/** The projection kinds an adapter touches in any layer (they need u buffers), and its rank. */
export function adaptedKinds(spec: ModelSpec, lora: LowRankUpdates | undefined): { kinds: ProjectionKind[]; R: number } {
  const kinds = new Set<ProjectionKind>();
  let R = 1;
  for (let l = 0; l < spec.L; l++) {
    for (const kind of ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const) {
      const slot = lora?.slot(l, kind);
      if (slot) {
        kinds.add(kind);
        R = slot.R;
      }
    }
  }
  return { kinds: [...kinds], R };
}
