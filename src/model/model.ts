// A pretrained causal language model on the GPU: its spec, frozen weights and RoPE tables,
// loaded from any ModelSource (a local folder, a URL, files picked in a browser). Every tensor it
// puts on the GPU is one of planWeights(spec, storage) (./gpu-weights.ts), which the memory estimate sums.
import type { GpuContext } from '../gpu/device.js';
import type { ModelSpec } from './config.js';
import { createInferenceState, type ForwardWeights, type InferenceState } from './forward.js';
import { assertWeightStorageOption, createPlanned, destroyWeights, planWeights, streamWeightsToGpu, type WeightStorage, type WeightStorageOption } from './gpu-weights.js';
import type { LowRankUpdates } from './linear.js';
import { modelRopeTables } from './rope.js';
import type { ModelSource } from './source.js';
import { loadModelSpec } from './weights.js';

export interface LoadProgress {
  /** The tensor just loaded, and how many of how many are done. */
  tensor: string;
  done: number;
  total: number;
}

export interface LoadOptions {
  /**
   * How the large frozen matrices (projections, embedding, untied LM head, GPT-2 positions) are
   * stored on the GPU: 'f32' (the default, as loaded) or 'f16' (half their memory; compute stays
   * f32, so results differ from f32 storage by the f16 rounding of those weights), 'nf4' or 'q8' (the
   * layers' projections quantized, dequantized inside the matmuls; the other matrices f16), or a
   * descriptor {projections, others} naming the two formats (the golden cases keep the others
   * f32). See ./gpu-weights.ts. A bitsandbytes 4-bit checkpoint (./bnb.ts) defaults to 'nf4': its
   * NF4 projections go to the GPU as they are; under another storage they are dequantized first.
   */
  weightStorage?: WeightStorageOption;
}

export class LanguageModel {
  private constructor(
    readonly ctx: GpuContext,
    readonly source: ModelSource,
    readonly spec: ModelSpec,
    /** Token ids that end generation (generation_config.json's eos_token_id, else config.json's). */
    readonly eosTokenIds: number[],
    readonly bosTokenId: number | null,
    /** The frozen weights on the GPU (and the RoPE tables), what every forward pass reads. */
    readonly weights: ForwardWeights,
  ) {}

  static async load(ctx: GpuContext, source: ModelSource, onProgress?: (p: LoadProgress) => void, options: LoadOptions = {}): Promise<LanguageModel> {
    const given = options.weightStorage === undefined ? undefined : assertWeightStorageOption(options.weightStorage);
    const { spec, generationConfig } = await loadModelSpec(source);
    // A bitsandbytes 4-bit checkpoint keeps its NF4 projections by default (read as they are, not re-quantized).
    const storage: WeightStorageOption = given ?? (spec.quantization ? 'nf4' : 'f32');
    // Each tensor goes to the GPU as it is read (quantized or rounded there), its CPU copy dropped.
    const weights = await streamWeightsToGpu(ctx, source, spec, storage, (tensor, done, total) => onProgress?.({ tensor, done, total }));
    const plan = planWeights(spec, storage);
    const fw: ForwardWeights = { spec, weights };
    if (plan.ropeCos && plan.ropeSin) {
      // cos and sin of position p times each of the HS/2 frequencies of each RoPE: [R·P, HS/2] each.
      const { cos, sin } = modelRopeTables(spec);
      fw.ropeCos = createPlanned(ctx, plan.ropeCos, cos);
      fw.ropeSin = createPlanned(ctx, plan.ropeSin, sin);
    }
    const eos = generationConfig.eosTokenIds.length ? generationConfig.eosTokenIds : spec.eosTokenIds;
    return new LanguageModel(ctx, source, spec, eos, generationConfig.bosTokenId ?? spec.bosTokenId, fw);
  }

  /**
   * How the large frozen matrices are stored on the GPU ('f32', 'f16', 'nf4' or 'q8'); a model
   * loaded with a {projections, others} descriptor reports its projections' format (the
   * descriptor itself is weights.weights.storage).
   */
  get weightStorage(): WeightStorage {
    const s = this.weights.weights.storage;
    return typeof s === 'object' ? s.projections : s;
  }

  /** KV cache and activations for B rows of up to S positions (with u buffers for an adapter's projections). */
  createState(B: number, S: number, lora?: LowRankUpdates): InferenceState {
    return createInferenceState(this.ctx, this.spec, B, Math.min(S, this.spec.maxPositions), lora);
  }

  destroy(): void {
    destroyWeights(this.weights.weights);
    this.weights.ropeCos?.destroy();
    this.weights.ropeSin?.destroy();
  }
}
