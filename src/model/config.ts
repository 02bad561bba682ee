// config.json (a Hugging Face PretrainedConfig) → ModelSpec, the dimensions and switches that
// the rest of the engine reads. Absent optional fields take the default of the transformers
// config class of that model_type (LlamaConfig, Qwen2Config, Qwen3Config, GPT2Config,
// Gemma3TextConfig, SmolLM3Config). The RoPE fields (rope_theta, rope_scaling, rope_parameters,
// Gemma's per-layer-type forms) are read by ./rope-config.ts.
//
// Dimension letters: the legend at the top of ./block.ts (V vocabulary, C model width, L layers,
// NH query heads, KV key/value heads, HS head size, F MLP width, ...).
import { layerRopes, type RopeSpec } from './rope-config.js';
import { fields, ModelConfigError, type Fields, type Json } from './config-fields.js';
import { readJsonIfExists, type ModelSource } from './source.js';
import { parseQuantizationConfig, type BnbQuantization } from './bnb.js';

export { ModelConfigError } from './config-fields.js';
export { ROPE_TYPES, type RopeSpec } from './rope-config.js';

export type ModelType = 'llama' | 'qwen2' | 'qwen3' | 'gpt2' | 'gemma3_text' | 'gemma3' | 'smollm3';
export const SUPPORTED_MODEL_TYPES: ModelType[] = ['llama', 'qwen2', 'qwen3', 'gpt2', 'gemma3_text', 'gemma3', 'smollm3'];

/** What one layer's attention does that may differ from layer to layer. */
export interface LayerSpec {
  /** Its RoPE: an index into ModelSpec.ropes (its rows of the RoPE tables), or null for none (SmolLM3's NoPE layers, GPT-2). */
  rope: number | null;
  /**
   * A sliding window of W keys (layer_types' sliding_attention): the query at position p attends
   * the keys p − W < j ≤ p. null: every earlier key (full causal attention).
   */
  window: number | null;
}

export interface ModelSpec {
  modelType: ModelType;
  /**
   * 'llama': pre-norm RMSNorm, RoPE (rotating halves), a gated MLP (llama, qwen2, qwen3, smollm3,
   * and gemma3 with the Gemma switches below).
   * 'gpt2': pre-norm LayerNorm with bias, learned positions, gelu_new MLP, biases everywhere.
   */
  arch: 'llama' | 'gpt2';
  V: number;
  C: number;
  L: number;
  NH: number;
  KV: number;
  HS: number;
  F: number;
  maxPositions: number;
  normEps: number;
  /** The RoPE base of the first RoPE in `ropes` (10000 where the model has none); `ropes` is what the engine reads. */
  ropeTheta: number;
  /** The output head is the token embedding (no lm_head.weight). */
  tieWordEmbeddings: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Qwen3, Gemma 3: RMSNorm over each head of q and k (weights [HS]) before RoPE. */
  qkNorm: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Gemma: every RMSNorm multiplies by (1 + weight) instead of weight (computed in f32). */
  normOnePlusWeight: boolean;
  /** The token embeddings are multiplied by this (Gemma: √C rounded to f32, as torch holds it); 1 otherwise. */
  embedScale: number;
  /** The gated MLP's activation of the gate (gpt2's MLP is ungated gelu_new whatever this says). */
  mlpActivation: 'silu' | 'gelu_tanh';
  /**
   * Gemma 3's sandwich norms: post_attention_layernorm on the attention output and
   * post_feedforward_layernorm on the MLP output, each before its residual add (the MLP's input
   * norm is then pre_feedforward_layernorm).
   */
  postNorms: boolean;
  /** The attention score scale (Gemma: query_pre_attn_scalar^-½); null: 1/√HS. */
  attnScale: number | null;
  /** Attention logit softcapping c (scores → c·tanh(scores/c)); null: none. */
  attnSoftcap: number | null;
  /** Final logit softcapping c (logits → c·tanh(logits/c)); null: none. */
  finalSoftcap: number | null;
  /** The distinct RoPE variants of the layers, in order of first use: one [P, HS/2] block of the RoPE tables each. */
  ropes: RopeSpec[];
  /** One entry per layer (L of them). */
  layers: LayerSpec[];
  /**
   * config.json's quantization_config, where the checkpoint is quantized: bitsandbytes 4-bit NF4,
   * its projections read as they are (./bnb.ts). Absent for a float checkpoint.
   */
  quantization?: BnbQuantization;
}

/** Parse a config.json object; `where` (a path or URL) is named in every error. */
export function parseModelConfig(config: unknown, where: string): ModelSpec {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ModelConfigError(`${where}: not a JSON object`);
  }
  const top = config as Json;
  const modelType = top.model_type;
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as ModelType)) {
    const what = modelType === undefined ? 'has no model_type' : `has model_type ${JSON.stringify(modelType)}, which is not supported`;
    throw new ModelConfigError(`${where} ${what}; supported model types: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
  // A gemma3 (multimodal) config keeps the language model's config in text_config.
  let c = top;
  let at = where;
  if (modelType === 'gemma3') {
    const text = top.text_config;
    if (typeof text !== 'object' || text === null || Array.isArray(text)) {
      throw new ModelConfigError(`${where}: text_config must be the language model's config object (a gemma3 model is read for its text part only)`);
    }
    c = { ...(text as Json) };
    for (const key of ['bos_token_id', 'eos_token_id', 'tie_word_embeddings'] as const) if (c[key] === undefined && top[key] !== undefined) c[key] = top[key];
    at = `${where} (text_config)`;
  }
  const f = fields(c, at);
  const bosIds = f.tokenIds('bos_token_id');
  const common: Common = { bosTokenId: bosIds[0] ?? null, eosTokenIds: f.tokenIds('eos_token_id'), V: f.positiveInt('vocab_size') };
  const quantization = parseQuantizationConfig(top.quantization_config, where);
  if (quantization && modelType === 'gpt2') {
    throw new ModelConfigError(`${where}: quantization_config: bitsandbytes checkpoints of gpt2 (Conv1D weights) are not supported; load the original weights with weightStorage 'nf4'`);
  }
  const spec = modelType === 'gpt2' ? gpt2Spec(f, c, common) : modelType === 'gemma3' || modelType === 'gemma3_text' ? gemma3Spec(f, c, modelType, common) : llamaSpec(f, c, modelType as LlamaType, common);
  if (quantization) spec.quantization = quantization;
  checkMatrixSizes(f, spec);
  return spec;
}

/** The most elements of one weight matrix (or RoPE table) a config may imply: 2^32, 16 GiB in f32. */
const MAX_MATRIX_ELEMENTS = 2 ** 32;

/**
 * Refuses sizes that are each within SIZE_LIMITS but whose product, a matrix the model would
 * allocate (the embedding V·C, an MLP matrix F·C, the query projection NH·HS·C, GPT-2's position
 * table P·C, the RoPE tables P·HS), is beyond MAX_MATRIX_ELEMENTS, naming the fields multiplied.
 */
function checkMatrixSizes(f: Fields, s: ModelSpec): void {
  const gpt2 = s.arch === 'gpt2';
  const name = gpt2
    ? { V: 'vocab_size', C: 'n_embd', F: 'n_inner', NH: 'n_head', HS: 'n_embd / n_head', P: 'n_positions' }
    : { V: 'vocab_size', C: 'hidden_size', F: 'intermediate_size', NH: 'num_attention_heads', HS: 'head_dim', P: 'max_position_embeddings' };
  const size = { V: s.V, C: s.C, F: s.F, NH: s.NH, HS: s.HS, P: s.maxPositions };
  const matrices: Array<Array<keyof typeof name>> = [['V', 'C'], ['F', 'C'], ['NH', 'HS', 'C'], gpt2 ? ['P', 'C'] : ['P', 'HS']];
  for (const dims of matrices) {
    const elements = dims.reduce((a, d) => a * size[d], 1);
    if (elements > MAX_MATRIX_ELEMENTS) {
      const product = dims.map((d) => `${name[d]} (${size[d]})`).join(' × ');
      f.fail(name[dims[0]], `is too large with the others: ${product} = ${elements} elements in one matrix; this engine accepts at most ${MAX_MATRIX_ELEMENTS}`);
    }
  }
}

type Common = Pick<ModelSpec, 'bosTokenId' | 'eosTokenIds' | 'V'>;
type LlamaType = 'llama' | 'qwen2' | 'qwen3' | 'smollm3';

/** The fields every llama-family spec shares with no Gemma switch set. */
const PLAIN = { normOnePlusWeight: false, embedScale: 1, mlpActivation: 'silu', postNorms: false, attnScale: null, attnSoftcap: null, finalSoftcap: null } as const;

// Defaults of the transformers config classes for fields a config.json may leave out.
const LLAMA_DEFAULTS: Record<LlamaType, { maxPositions: number; headDim: number | null; theta: number }> = {
  llama: { maxPositions: 2048, headDim: null, theta: 10000 },
  qwen2: { maxPositions: 32768, headDim: null, theta: 10000 },
  qwen3: { maxPositions: 32768, headDim: 128, theta: 10000 }, // Qwen3Config(head_dim=128)
  smollm3: { maxPositions: 32768, headDim: null, theta: 2000000 }, // SmolLM3Config.default_theta
};

/** Heads and head size: NH, KV (default NH, dividing NH) and HS (head_dim, else C / NH). */
function heads(f: Fields, C: number, headDimDefault: number | null) {
  const NH = f.positiveInt('num_attention_heads');
  const KV = f.positiveInt('num_key_value_heads', NH);
  if (NH % KV !== 0) f.fail('num_key_value_heads', `(${KV}) must divide num_attention_heads (${NH})`);
  const HS =
    f.present('head_dim') || headDimDefault !== null
      ? f.positiveInt('head_dim', headDimDefault ?? undefined)
      : C % NH === 0
        ? C / NH
        : f.fail('hidden_size', `(${C}) is not a multiple of num_attention_heads (${NH}) and there is no head_dim`);
  if (HS % 2 !== 0) f.fail('head_dim', `(${HS}) must be even for RoPE`);
  return { NH, KV, HS };
}

/** layer_types (each full_attention or sliding_attention; L of them), or `fallback` per layer when absent. */
function layerTypes(f: Fields, c: Json, L: number, fallback: (l: number) => string): string[] {
  const v = c.layer_types;
  if (v === undefined || v === null) return Array.from({ length: L }, (_, l) => fallback(l));
  if (!Array.isArray(v) || v.length !== L) f.fail('layer_types', `must be a list of num_hidden_layers (${L}) layer types, not ${JSON.stringify(v)}`);
  const bad = (v as unknown[]).find((t) => t !== 'full_attention' && t !== 'sliding_attention');
  if (bad !== undefined) f.fail('layer_types', `contains ${JSON.stringify(bad)}; supported layer types: full_attention, sliding_attention`);
  return v as string[];
}

/** The sliding window W of sliding_attention layers (required where a layer is one; absent, `fallback`). */
function slidingWindow(f: Fields, types: string[], fallback?: number): number | null {
  if (!types.includes('sliding_attention')) return null;
  if (f.config.sliding_window === null || (f.config.sliding_window === undefined && fallback === undefined)) {
    f.fail('sliding_window', 'is missing or null, but layer_types has sliding_attention layers');
  }
  return f.positiveInt('sliding_window', fallback);
}

function llamaSpec(f: Fields, c: Json, modelType: LlamaType, common: Common): ModelSpec {
  const defaults = LLAMA_DEFAULTS[modelType];
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') f.fail('hidden_act', `is ${JSON.stringify(act)}; ${modelType} models are supported with "silu" only`);
  const C = f.positiveInt('hidden_size');
  const L = f.positiveInt('num_hidden_layers');
  const { NH, KV, HS } = heads(f, C, defaults.headDim);
  const attentionBias = f.bool('attention_bias', false);
  // SmolLM3: no_rope_layers[l] = 1 where layer l has RoPE, 0 where it has none (NoPE); absent,
  // every no_rope_layer_interval-th layer is NoPE. Its sliding layers (use_sliding_window with
  // sliding_window, on NoPE layers by default) are supported; Qwen2's (max_window_layers) are not.
  let useRope = (_l: number) => true;
  let types: string[];
  if (modelType === 'smollm3') {
    const interval = f.positiveInt('no_rope_layer_interval', 4);
    const list = c.no_rope_layers ?? Array.from({ length: L }, (_, l) => ((l + 1) % interval !== 0 ? 1 : 0));
    if (!Array.isArray(list) || list.length < L || !list.slice(0, L).every((x) => x === 0 || x === 1 || x === true || x === false)) {
      f.fail('no_rope_layers', `must list 1 (RoPE) or 0 (no RoPE) for each of the ${L} layers, not ${JSON.stringify(c.no_rope_layers)}`);
    }
    const uses = (list as unknown[]).map((x) => x === 1 || x === true);
    useRope = (l) => uses[l];
    // use_sliding_window only picks the default layer_types; the mask of a sliding_attention layer
    // (SmolLM3Model is Qwen2Model: create_sliding_window_causal_mask) is what limits its keys.
    const sliding = f.bool('use_sliding_window', false) && f.present('sliding_window');
    types = layerTypes(f, c, L, (l) => (sliding && !uses[l] ? 'sliding_attention' : 'full_attention'));
  } else {
    // Sliding-window attention (Qwen2 with use_sliding_window) changes which keys each layer sees.
    if (c.use_sliding_window === true) f.fail('use_sliding_window', `is true; sliding-window attention is supported for gemma3 and smollm3, not ${modelType}`);
    types = layerTypes(f, c, L, () => 'full_attention');
    if (types.includes('sliding_attention')) f.fail('layer_types', `contains "sliding_attention"; sliding-window layers are supported for gemma3 and smollm3, not ${modelType} (only full_attention)`);
  }
  const window = slidingWindow(f, types);
  const { ropes, layerRope } = layerRopes(f, c, types, { theta: defaults.theta, HS }, useRope);
  return {
    modelType,
    arch: 'llama',
    ...common,
    C,
    L,
    NH,
    KV,
    HS,
    F: f.positiveInt('intermediate_size'),
    maxPositions: f.positiveInt('max_position_embeddings', defaults.maxPositions),
    normEps: f.positiveNumber('rms_norm_eps', 1e-6),
    ropeTheta: ropes[0]?.theta ?? defaults.theta,
    tieWordEmbeddings: f.bool('tie_word_embeddings', modelType === 'smollm3'),
    // Qwen2 always has q/k/v biases and none on o_proj; the others follow attention_bias.
    qkvBias: modelType === 'qwen2' ? true : attentionBias,
    oBias: modelType === 'qwen2' ? false : attentionBias,
    mlpBias: modelType === 'llama' || modelType === 'smollm3' ? f.bool('mlp_bias', false) : false,
    qkNorm: modelType === 'qwen3',
    ...PLAIN,
    ropes,
    layers: types.map((t, l) => ({ rope: layerRope[l], window: t === 'sliding_attention' ? window : null })),
  };
}

/**
 * Gemma 3 (Gemma3TextConfig): RMSNorm with (1 + weight), embeddings times √C, q/k norms, GeGLU
 * with the tanh GELU, sandwich norms, head_dim 256 by default, scores scaled by
 * query_pre_attn_scalar^-½, sliding-window layers (layer_types, else every
 * sliding_window_pattern-th layer full), RoPE per layer type, tied head, final logit softcapping.
 */
function gemma3Spec(f: Fields, c: Json, modelType: 'gemma3' | 'gemma3_text', common: Common): ModelSpec {
  const act = c.hidden_activation ?? c.hidden_act ?? 'gelu_pytorch_tanh';
  if (act !== 'gelu_pytorch_tanh' && act !== 'gelu_new') {
    f.fail('hidden_activation', `is ${JSON.stringify(act)}; gemma3 models are supported with "gelu_pytorch_tanh" (or "gelu_new", the same tanh GELU) only`);
  }
  if (c.use_bidirectional_attention === true) f.fail('use_bidirectional_attention', 'is true; only causal attention is supported');
  const C = f.positiveInt('hidden_size');
  const L = f.positiveInt('num_hidden_layers');
  const { NH, KV, HS } = heads(f, C, 256);
  // transformers 4 configs give a pattern instead of layer_types: every pattern-th layer is full.
  const pattern = f.positiveInt(f.present('sliding_window_pattern') ? 'sliding_window_pattern' : '_sliding_window_pattern', 6);
  const types = layerTypes(f, c, L, (l) => ((l + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention'));
  const window = slidingWindow(f, types, 4096);
  const { ropes, layerRope } = layerRopes(f, c, types, { theta: 1_000_000, localTheta: 10_000, HS, perLayerType: true }, () => true);
  const attentionBias = f.bool('attention_bias', false);
  const optionalPositive = (field: string): number | null => (f.present(field) ? f.positiveNumber(field) : null);
  return {
    modelType,
    arch: 'llama',
    ...common,
    C,
    L,
    NH,
    KV,
    HS,
    F: f.positiveInt('intermediate_size'),
    maxPositions: f.positiveInt('max_position_embeddings', 131072),
    normEps: f.positiveNumber('rms_norm_eps', 1e-6),
    ropeTheta: ropes[0]?.theta ?? 1_000_000,
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    qkvBias: attentionBias,
    oBias: attentionBias,
    mlpBias: false,
    qkNorm: true,
    normOnePlusWeight: true,
    // Gemma3TextScaledWordEmbedding: torch.tensor(hidden_size ** 0.5), a float32 scalar.
    embedScale: Math.fround(Math.sqrt(C)),
    mlpActivation: 'gelu_tanh',
    postNorms: true,
    attnScale: f.positiveNumber('query_pre_attn_scalar', 256) ** -0.5,
    // Gemma3Attention does not pass attn_logit_softcapping to its attention function (Gemma 2's
    // does), so transformers computes Gemma 3 without it whatever the config says; so does this.
    attnSoftcap: null,
    finalSoftcap: optionalPositive('final_logit_softcapping'),
    ropes,
    layers: types.map((t, l) => ({ rope: layerRope[l], window: t === 'sliding_attention' ? window : null })),
  };
}

function gpt2Spec(f: Fields, c: Json, common: Common): ModelSpec {
  const act = c.activation_function ?? 'gelu_new';
  // gelu_new and gelu_pytorch_tanh are the same tanh approximation of GELU.
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    f.fail('activation_function', `is ${JSON.stringify(act)}; gpt2 models are supported with "gelu_new" (or "gelu_pytorch_tanh") only`);
  }
  if (c.scale_attn_by_inverse_layer_idx === true) f.fail('scale_attn_by_inverse_layer_idx', 'is true; that attention scaling is not supported');
  if (c.scale_attn_weights === false) f.fail('scale_attn_weights', 'is false; unscaled attention is not supported');
  const C = f.positiveInt('n_embd');
  const NH = f.positiveInt('n_head');
  if (C % NH !== 0) f.fail('n_embd', `(${C}) is not a multiple of n_head (${NH})`);
  const L = f.positiveInt('n_layer');
  return {
    modelType: 'gpt2',
    arch: 'gpt2',
    ...common,
    C,
    L,
    NH,
    KV: NH,
    HS: C / NH,
    // GPT2 reads n_inner (None → 4·n_embd); intermediate_size, if a config has one, is ignored by GPT2Model.
    F: f.positiveInt('n_inner', 4 * C),
    maxPositions: f.positiveInt('n_positions', 1024),
    normEps: f.positiveNumber('layer_norm_epsilon', 1e-5),
    ropeTheta: 10000,
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    qkNorm: false,
    ...PLAIN,
    ropes: [],
    layers: Array.from({ length: L }, () => ({ rope: null, window: null })),
  };
}

// config.json + generation_config.json from a model folder.
export interface GenerationDefaults {
  eosTokenIds: number[];
  bosTokenId: number | null;
}

/**
 * The spec from config.json (required), and the stop/start tokens: generation_config.json's
 * eos_token_id / bos_token_id (a number or a list) where it sets them, else config.json's.
 */
export async function loadModelSpec(source: ModelSource): Promise<{ spec: ModelSpec; generationConfig: GenerationDefaults }> {
  if (!(await source.exists('config.json'))) {
    throw new ModelConfigError(`${source.description}/config.json is missing; a Hugging Face model folder needs its config.json`);
  }
  // A file holding `null` is there, and refused by parseModelConfig as not an object (not "missing").
  // Invalid JSON is a ModelConfigError too, with the reader's message (naming the file).
  const config = await readJsonIfExists(source, 'config.json').catch((e: unknown) => {
    throw new ModelConfigError((e as Error).message);
  });
  const spec = parseModelConfig(config, `${source.description}/config.json`);
  const gen = await readJsonIfExists<Record<string, unknown>>(source, 'generation_config.json');
  const generationConfig: GenerationDefaults = { eosTokenIds: spec.eosTokenIds, bosTokenId: spec.bosTokenId };
  if (gen !== null) {
    const where = `${source.description}/generation_config.json`;
    const ids = (field: string): number[] | null => {
      const v = gen[field];
      if (v === undefined || v === null) return null;
      const list = Array.isArray(v) ? v : [v];
      if (!list.every((x) => Number.isSafeInteger(x) && x >= 0)) throw new ModelConfigError(`${where}: ${field} must be a token id or a list of them, not ${JSON.stringify(v)}`);
      return list as number[];
    };
    generationConfig.eosTokenIds = ids('eos_token_id') ?? spec.eosTokenIds;
    generationConfig.bosTokenId = ids('bos_token_id')?.[0] ?? spec.bosTokenId;
  }
  return { spec, generationConfig };
}
