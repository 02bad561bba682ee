// The RoPE of each layer from config.json, in the layouts transformers reads (modeling_rope_utils.py,
// PreTrainedConfig.standardize_rope_params, Gemma3TextConfig.convert_rope_params_to_dict):
//   transformers 4: rope_theta, rope_scaling ({rope_type or type, factor, ...} or null), and for
//     Gemma 3 rope_local_base_freq (the sliding layers' base; rope_scaling applies to the full ones);
//   transformers 5: rope_parameters, either one object ({rope_type, rope_theta, ...}) or, for
//     models with layer types (Gemma 3), one per layer type ({full_attention: {...},
//     sliding_attention: {...}}), where a missing rope_theta falls back to the 4.x fields.
// Supported rope types: default, linear (inverse frequencies divided by factor) and llama3
// (Llama 3.1's band-wise rescaling, ./rope.ts computes it); anything else is refused, naming the field.
import { fields, ModelConfigError, type Fields, type Json } from './config-fields.js';

export const ROPE_TYPES = ['default', 'linear', 'llama3'] as const;

/** One RoPE: its base θ and how its inverse frequencies are scaled (./rope.ts inverseFrequencies). */
export type RopeSpec =
  | { type: 'default'; theta: number }
  | { type: 'linear'; theta: number; factor: number }
  | { type: 'llama3'; theta: number; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface RopeDefaults {
  /** The base θ where the config gives none (of the full-attention layers, for Gemma). */
  theta: number;
  /** Gemma: the sliding layers' default base (Gemma3TextConfig.default_theta.local). */
  localTheta?: number;
  HS: number;
  /** Gemma 3: RoPE is configured per layer type (full_attention, sliding_attention). */
  perLayerType?: boolean;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const LAYER_TYPES = ['full_attention', 'sliding_attention'];

/**
 * The distinct RoPEs of the layers, in order of first use, and each layer's index into them
 * (null where useRope(l) is false: no RoPE on that layer).
 */
export function layerRopes(f: Fields, c: Json, types: string[], d: RopeDefaults, useRope: (l: number) => boolean): { ropes: RopeSpec[]; layerRope: (number | null)[] } {
  checkWholeHead(f, d.HS);
  for (const field of ['rope_scaling', 'rope_parameters']) {
    if (f.present(field) && !isObject(c[field])) f.fail(field, `must be an object or null, not ${JSON.stringify(c[field])}`);
  }
  const ofType = d.perLayerType ? perTypeRopes(f, c, d) : flatRopes(f, c, d);
  const ropes: RopeSpec[] = [];
  const keys: string[] = [];
  const layerRope = types.map((t, l) => {
    if (!useRope(l)) return null;
    const rope = ofType(t);
    const key = JSON.stringify(rope);
    if (!keys.includes(key)) {
      keys.push(key);
      ropes.push(rope);
    }
    return keys.indexOf(key);
  });
  return { ropes, layerRope };
}

/**
 * One RoPE for every layer (llama, qwen2, qwen3, smollm3): rope_parameters if present, else
 * rope_scaling; θ from rope_theta, else rope_parameters.rope_theta, else the default. A
 * rope_parameters keyed by layer type gives each type its own.
 */
function flatRopes(f: Fields, c: Json, d: RopeDefaults): (type: string) => RopeSpec {
  const params = c.rope_parameters;
  if (isObject(params) && Object.keys(params).some((k) => LAYER_TYPES.includes(k))) return perTypeRopes(f, c, d);
  // Both are read, so that an unsupported type in either is refused rather than ignored.
  const scaling = isObject(c.rope_scaling) ? parseRope(f, 'rope_scaling', c.rope_scaling, 1, d.HS) : null;
  const field = isObject(params) ? 'rope_parameters' : 'rope_scaling';
  const source = isObject(params) ? params : isObject(c.rope_scaling) ? c.rope_scaling : {};
  const theta = c.rope_theta ?? source.rope_theta ?? d.theta;
  if (typeof theta !== 'number' || !(theta > 0) || !Number.isFinite(theta)) f.fail('rope_theta', `must be a positive number, not ${JSON.stringify(theta)}`);
  const rope = isObject(params) ? parseRope(f, field, params, theta as number, d.HS) : scaling ? { ...scaling, theta: theta as number } : { type: 'default' as const, theta: theta as number };
  return () => rope;
}

/**
 * Gemma 3 (Gemma3TextConfig.convert_rope_params_to_dict): rope_parameters per layer type, each
 * default where absent; rope_scaling (transformers 4) is merged into full_attention's; a missing
 * rope_theta is rope_theta (full) or rope_local_base_freq (sliding), else the class defaults.
 */
function perTypeRopes(f: Fields, c: Json, d: RopeDefaults): (type: string) => RopeSpec {
  const params = isObject(c.rope_parameters) ? c.rope_parameters : {};
  const unknown = Object.keys(params).filter((k) => !LAYER_TYPES.includes(k));
  if (unknown.length) {
    f.fail('rope_parameters', `must hold one object per layer type (${LAYER_TYPES.join(', ')}) for this model; it has ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  }
  const byType = new Map<string, RopeSpec>();
  for (const type of LAYER_TYPES) {
    const field = `rope_parameters.${type}`;
    const own = params[type];
    if (own !== undefined && own !== null && !isObject(own)) f.fail(field, `must be an object or null, not ${JSON.stringify(own)}`);
    const merged: Json = { rope_type: 'default', ...(isObject(own) ? own : {}) };
    if (type === 'full_attention' && isObject(c.rope_scaling)) Object.assign(merged, c.rope_scaling);
    const fallback = type === 'full_attention' ? (c.rope_theta ?? d.theta) : (c.rope_local_base_freq ?? d.localTheta ?? d.theta);
    const theta = merged.rope_theta ?? fallback;
    if (typeof theta !== 'number' || !(theta > 0) || !Number.isFinite(theta)) {
      f.fail(isObject(own) && own.rope_theta !== undefined ? `${field}.rope_theta` : type === 'full_attention' ? 'rope_theta' : 'rope_local_base_freq', `must be a positive number, not ${JSON.stringify(theta)}`);
    }
    const from = isObject(own) ? field : type === 'full_attention' && isObject(c.rope_scaling) ? 'rope_scaling' : field;
    byType.set(type, parseRope(f, from, merged, theta as number, d.HS));
  }
  return (type) => byType.get(type)!;
}

/** Refuses a partial_rotary_factor other than 1 (RoPE over part of each head), naming the field. */
function checkWholeHead(f: Fields, HS: number): void {
  const partial = f.config.partial_rotary_factor ?? 1;
  if (partial !== 1) f.fail('partial_rotary_factor', `is ${JSON.stringify(partial)}; only RoPE over the whole head (1.0) is supported (head_dim ${HS})`);
}

/** One RoPE object ({rope_type or type, factor, ...}) with base θ; `field` names it in errors. */
function parseRope(outer: Fields, field: string, p: Json, theta: number, HS: number): RopeSpec {
  const f = fields(p, `${outer.where}: ${field}`);
  const type = p.rope_type ?? p.type ?? 'default';
  if (!ROPE_TYPES.includes(type as (typeof ROPE_TYPES)[number])) {
    throw new ModelConfigError(`${outer.where}: ${field} has rope_type ${JSON.stringify(type)}, which is not supported; supported rope types: ${ROPE_TYPES.join(', ')}`);
  }
  if (p.partial_rotary_factor !== undefined) checkWholeHead(f, HS);
  if (type === 'linear') return { type, theta, factor: f.positiveNumber('factor') };
  if (type === 'llama3') {
    const lowFreqFactor = f.positiveNumber('low_freq_factor');
    const highFreqFactor = f.positiveNumber('high_freq_factor');
    if (!(highFreqFactor > lowFreqFactor)) f.fail('high_freq_factor', `(${highFreqFactor}) must be larger than low_freq_factor (${lowFreqFactor})`);
    return { type, theta, factor: f.positiveNumber('factor'), lowFreqFactor, highFreqFactor, originalMaxPositions: f.positiveInt('original_max_position_embeddings') };
  }
  return { type: 'default', theta };
}
