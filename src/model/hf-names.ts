// The Hugging Face names of a model's tensors: each layer module and global module of the
// canonical layout (./weights.ts) by architecture (Llama family, Gemma 3, GPT-2), the prefix a
// checkpoint may leave out, and the other names a checkpoint may give a tensor.
import type { ModelSpec } from './config.js';

/** The modules of one layer, named by their LayerWeights field (a bias is the module's `.bias`). */
export type LayerModule = 'attnNorm' | 'q' | 'k' | 'v' | 'o' | 'qNorm' | 'kNorm' | 'postAttnNorm' | 'mlpNorm' | 'postMlpNorm' | 'gate' | 'up' | 'down';
export type GlobalModule = 'embed' | 'positions' | 'finalNorm' | 'lmHead';

const LLAMA_LAYER: Partial<Record<LayerModule, string>> = {
  attnNorm: 'input_layernorm',
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  qNorm: 'self_attn.q_norm',
  kNorm: 'self_attn.k_norm',
  mlpNorm: 'post_attention_layernorm',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};
// Gemma 3: four norms per layer; post_attention_layernorm is the attention output's.
const GEMMA_LAYER: Partial<Record<LayerModule, string>> = {
  ...LLAMA_LAYER,
  postAttnNorm: 'post_attention_layernorm',
  mlpNorm: 'pre_feedforward_layernorm',
  postMlpNorm: 'post_feedforward_layernorm',
};
// GPT-2's q, k and v are one fused Conv1D, attn.c_attn, whose outputs are [q | k | v].
const GPT2_LAYER: Partial<Record<LayerModule, string>> = {
  attnNorm: 'ln_1',
  q: 'attn.c_attn',
  k: 'attn.c_attn',
  v: 'attn.c_attn',
  o: 'attn.c_proj',
  mlpNorm: 'ln_2',
  up: 'mlp.c_fc',
  down: 'mlp.c_proj',
};
const LLAMA_GLOBAL: Record<GlobalModule, string | null> = { embed: 'model.embed_tokens', positions: null, finalNorm: 'model.norm', lmHead: 'lm_head' };
const GPT2_GLOBAL: Record<GlobalModule, string | null> = { embed: 'transformer.wte', positions: 'transformer.wpe', finalNorm: 'transformer.ln_f', lmHead: 'lm_head' };
// Gemma3ForConditionalGeneration (transformers 5 names): the language model under model.language_model.
const GEMMA3_TEXT_PREFIX = 'model.language_model.';
const GEMMA3_GLOBAL: Record<GlobalModule, string | null> = {
  embed: `${GEMMA3_TEXT_PREFIX}embed_tokens`,
  positions: null,
  finalNorm: `${GEMMA3_TEXT_PREFIX}norm`,
  lmHead: 'lm_head',
};
const isGemma = (spec: ModelSpec) => spec.modelType === 'gemma3' || spec.modelType === 'gemma3_text';

/** The prefix that checkpoints may leave out ('model.' or 'transformer.'). */
export function modelPrefix(spec: ModelSpec): string {
  return spec.arch === 'gpt2' ? 'transformer.' : 'model.';
}

/** GPT-2 stores linear layers as Conv1D, weight [in, out]; the llama family as nn.Linear, [out, in]. */
export function isConv1D(spec: ModelSpec): boolean {
  return spec.arch === 'gpt2';
}

/**
 * The module path of a layer module with its canonical prefix, e.g. `model.layers.3.self_attn.q_proj`
 * or `transformer.h.3.attn.c_attn` (gpt2's q, k, v all give c_attn); null where the architecture has
 * no such module. Append `.weight` / `.bias` for tensor names; the last component is PEFT's
 * target_modules name.
 */
export function layerModuleName(spec: ModelSpec, layer: number, module: LayerModule): string | null {
  const part = (spec.arch === 'gpt2' ? GPT2_LAYER : isGemma(spec) ? GEMMA_LAYER : LLAMA_LAYER)[module];
  const layers = spec.arch === 'gpt2' ? 'transformer.h' : spec.modelType === 'gemma3' ? `${GEMMA3_TEXT_PREFIX}layers` : 'model.layers';
  return part ? `${layers}.${layer}.${part}` : null;
}

/** The module path of a non-layer module (`model.embed_tokens`, `transformer.wpe`, `lm_head`, ...). */
export function globalModuleName(spec: ModelSpec, module: GlobalModule): string | null {
  return (spec.arch === 'gpt2' ? GPT2_GLOBAL : spec.modelType === 'gemma3' ? GEMMA3_GLOBAL : LLAMA_GLOBAL)[module];
}

/**
 * The names a checkpoint may give the tensor of canonical name `name`: the name itself, without
 * the `model.` / `transformer.` prefix, and for a gemma3 checkpoint saved by transformers 4 its
 * language_model.model.* / language_model.lm_head name.
 */
export function checkpointNames(spec: ModelSpec, name: string): string[] {
  const prefix = modelPrefix(spec);
  const names = [name];
  if (spec.modelType === 'gemma3') {
    if (name.startsWith(GEMMA3_TEXT_PREFIX)) names.push(`language_model.model.${name.slice(GEMMA3_TEXT_PREFIX.length)}`);
    else if (name.startsWith('lm_head.')) names.push(`language_model.${name}`);
  } else if (name.startsWith(prefix)) names.push(name.slice(prefix.length));
  return names;
}
