// config.json (a Hugging Face PretrainedConfig) → ModelSpec, the dimensions and switches that
// the rest of the engine reads. Absent optional fields take the default of the transformers
// config class of that model_type (LlamaConfig, Qwen2Config, Qwen3Config, GPT2Config).
//
// Dimension letters: the legend at the top of ./block.ts (V vocabulary, C model width, L layers,
// NH query heads, KV key/value heads, HS head size, F MLP width, ...).
import { readJsonIfExists, type ModelSource } from './source.js';

export type ModelType = 'llama' | 'qwen2' | 'qwen3' | 'gpt2';
export const SUPPORTED_MODEL_TYPES: ModelType[] = ['llama', 'qwen2', 'qwen3', 'gpt2'];

export interface ModelSpec {
  modelType: ModelType;
  /**
   * 'llama': pre-norm RMSNorm, RoPE (rotating halves), SiLU-gated MLP (llama, qwen2, qwen3).
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
  /** RoPE base; unused by gpt2. */
  ropeTheta: number;
  /** The output head is the token embedding (no lm_head.weight). */
  tieWordEmbeddings: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Qwen3: RMSNorm over each head of q and k (weights [HS]) before RoPE. */
  qkNorm: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

type Json = Record<string, unknown>;

/** Field readers that name the field and the file in every error. */
function fields(config: Json, where: string) {
  const fail = (field: string, msg: string): never => {
    throw new ModelConfigError(`${where}: ${field} ${msg}`);
  };
  const present = (field: string) => config[field] !== undefined && config[field] !== null;
  const positiveInt = (field: string, fallback?: number): number => {
    const v = config[field] ?? fallback;
    if (v === undefined || v === null) fail(field, 'is missing; it is required');
    if (!Number.isSafeInteger(v) || (v as number) <= 0) fail(field, `must be a positive integer, not ${JSON.stringify(v)}`);
    return v as number;
  };
  const positiveNumber = (field: string, fallback: number): number => {
    const v = config[field] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) fail(field, `must be a positive number, not ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (field: string, fallback: boolean): boolean => {
    const v = config[field] ?? fallback;
    if (typeof v !== 'boolean') fail(field, `must be true or false, not ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const tokenIds = (field: string): number[] => {
    const v = config[field];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => Number.isSafeInteger(x) && x >= 0)) fail(field, `must be a token id, a list of them or null, not ${JSON.stringify(v)}`);
    return list as number[];
  };
  return { fail, present, positiveInt, positiveNumber, bool, tokenIds };
}

/** Parse a config.json object; `where` (a path or URL) is named in every error. */
export function parseModelConfig(config: unknown, where: string): ModelSpec {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ModelConfigError(`${where}: not a JSON object`);
  }
  const c = config as Json;
  const modelType = c.model_type;
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as ModelType)) {
    const what = modelType === undefined ? 'has no model_type' : `has model_type ${JSON.stringify(modelType)}, which is not supported`;
    throw new ModelConfigError(`${where} ${what}; supported model types: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
  const f = fields(c, where);
  const bosIds = f.tokenIds('bos_token_id');
  const common = { bosTokenId: bosIds[0] ?? null, eosTokenIds: f.tokenIds('eos_token_id'), V: f.positiveInt('vocab_size') };
  return modelType === 'gpt2' ? gpt2Spec(f, c, common) : llamaSpec(f, c, modelType as ModelType, where, common);
}

type Fields = ReturnType<typeof fields>;
type Common = Pick<ModelSpec, 'bosTokenId' | 'eosTokenIds' | 'V'>;

// Defaults of the transformers config classes for fields a config.json may leave out.
const LLAMA_DEFAULTS = {
  llama: { maxPositions: 2048, headDim: null as number | null },
  qwen2: { maxPositions: 32768, headDim: null as number | null },
  qwen3: { maxPositions: 32768, headDim: 128 as number | null }, // Qwen3Config(head_dim=128)
};

function llamaSpec(f: Fields, c: Json, modelType: ModelType, where: string, common: Common): ModelSpec {
  const defaults = LLAMA_DEFAULTS[modelType as 'llama' | 'qwen2' | 'qwen3'];
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') f.fail('hidden_act', `is ${JSON.stringify(act)}; ${modelType} models are supported with "silu" only`);
  // Sliding-window attention (Qwen2 with use_sliding_window) changes which keys each layer sees.
  if (c.use_sliding_window === true) f.fail('use_sliding_window', 'is true; sliding-window attention is not supported');
  if (Array.isArray(c.layer_types) && c.layer_types.some((t) => t !== 'full_attention')) {
    f.fail('layer_types', `contains ${JSON.stringify(c.layer_types.find((t) => t !== 'full_attention'))}; only full_attention layers are supported`);
  }
  const C = f.positiveInt('hidden_size');
  const NH = f.positiveInt('num_attention_heads');
  const KV = f.positiveInt('num_key_value_heads', NH);
  if (NH % KV !== 0) f.fail('num_key_value_heads', `(${KV}) must divide num_attention_heads (${NH})`);
  const HS =
    f.present('head_dim') || defaults.headDim !== null
      ? f.positiveInt('head_dim', defaults.headDim ?? undefined)
      : C % NH === 0
        ? C / NH
        : f.fail('hidden_size', `(${C}) is not a multiple of num_attention_heads (${NH}) and there is no head_dim`);
  if (HS % 2 !== 0) f.fail('head_dim', `(${HS}) must be even for RoPE`);
  const attentionBias = f.bool('attention_bias', false);
  return {
    modelType,
    arch: 'llama',
    ...common,
    C,
    L: f.positiveInt('num_hidden_layers'),
    NH,
    KV,
    HS,
    F: f.positiveInt('intermediate_size'),
    maxPositions: f.positiveInt('max_position_embeddings', defaults.maxPositions),
    normEps: f.positiveNumber('rms_norm_eps', 1e-6),
    ropeTheta: ropeTheta(f, c, where),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    // Qwen2 always has q/k/v biases and none on o_proj; llama and qwen3 follow attention_bias.
    qkvBias: modelType === 'qwen2' ? true : attentionBias,
    oBias: modelType === 'qwen2' ? false : attentionBias,
    mlpBias: modelType === 'llama' ? f.bool('mlp_bias', false) : false,
    qkNorm: modelType === 'qwen3',
  };
}

/**
 * The RoPE base: rope_theta (transformers 4) or rope_parameters.rope_theta (transformers 5),
 * default 10000. Scaled variants (linear, dynamic, yarn, llama3, ...) change the frequencies and
 * are refused rather than silently computed wrong.
 */
function ropeTheta(f: Fields, c: Json, where: string): number {
  for (const field of ['rope_scaling', 'rope_parameters']) {
    const p = c[field];
    if (p === undefined || p === null) continue;
    if (typeof p !== 'object' || Array.isArray(p)) f.fail(field, `must be an object or null, not ${JSON.stringify(p)}`);
    const type = (p as Json).rope_type ?? (p as Json).type ?? 'default';
    if (type !== 'default') {
      throw new ModelConfigError(`${where}: ${field} has rope_type ${JSON.stringify(type)}, which is not supported (only unscaled "default" RoPE is)`);
    }
  }
  const params = c.rope_parameters as Json | undefined | null;
  const theta = c.rope_theta ?? params?.rope_theta ?? 10000;
  if (typeof theta !== 'number' || !(theta > 0)) f.fail('rope_theta', `must be a positive number, not ${JSON.stringify(theta)}`);
  return theta as number;
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
  return {
    modelType: 'gpt2',
    arch: 'gpt2',
    ...common,
    C,
    L: f.positiveInt('n_layer'),
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
  const config = await readJsonIfExists(source, 'config.json');
  if (config === null) {
    throw new ModelConfigError(`${source.description}/config.json is missing; a Hugging Face model folder needs its config.json`);
  }
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
