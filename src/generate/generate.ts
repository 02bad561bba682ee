// Autoregressive generation with the KV cache on the GPU: one forward pass over the prompt
// (prefill), then one position per new token. Sampling happens on the CPU from the last
// position's logits (one readback of V floats per token).
import { destroyInferenceState, forward } from '../model/forward.js';
import type { LowRankUpdates } from '../model/linear.js';
import type { LanguageModel } from '../model/model.js';
import { SeededRandom, sampleToken, validateSampling, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  /** Stop after this many new tokens (default 128). */
  maxNewTokens?: number;
  /** Seed of the sampler (default 0); irrelevant when greedy. */
  seed?: number;
  /** Token ids that end generation; default the model's generation_config eos_token_id. */
  eosTokenIds?: number[];
  /** Called with each new token id as soon as it is chosen (an EOS token included). */
  onToken?: (id: number) => void;
  /** Aborts generation between tokens. */
  signal?: AbortSignal;
  /** A low-rank adapter (LoRA) applied on top of the base weights. */
  lora?: LowRankUpdates;
}

export interface GenerateResult {
  /** The new token ids (without the prompt), including a final EOS id when one ended the run. */
  ids: number[];
  stopReason: 'eos' | 'length' | 'max-positions';
}

export async function generateTokens(model: LanguageModel, promptIds: number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
  const { maxNewTokens = 128, seed = 0 } = opts;
  validateSampling(opts);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(`max new tokens must be an integer ≥ 0, got ${maxNewTokens}`);
  if (promptIds.length === 0) throw new Error('generate: the prompt has no tokens (give text, or a model whose tokenizer adds BOS)');
  const maxPos = model.spec.maxPositions;
  if (promptIds.length > maxPos) {
    throw new Error(`generate: the prompt has ${promptIds.length} tokens, more than the model's ${maxPos} positions`);
  }
  const eos = new Set(opts.eosTokenIds ?? model.eosTokenIds);
  const rng = new SeededRandom(seed);
  const S = Math.min(maxPos, promptIds.length + maxNewTokens);
  const state = model.createState(1, S, opts.lora);
  const ids: number[] = [];
  try {
    if (maxNewTokens === 0) return { ids, stopReason: 'length' };
    const lora = opts.lora;
    let logits = await forward(model.ctx, model.weights, state, promptIds, promptIds.length, { lora });
    for (;;) {
      opts.signal?.throwIfAborted();
      const next = sampleToken(logits, opts, rng);
      ids.push(next);
      opts.onToken?.(next);
      if (eos.has(next)) return { ids, stopReason: 'eos' };
      if (ids.length >= maxNewTokens) return { ids, stopReason: 'length' };
      if (state.length >= state.S) return { ids, stopReason: 'max-positions' };
      logits = await forward(model.ctx, model.weights, state, [next], 1, { lora });
    }
  } finally {
    destroyInferenceState(state);
  }
}
