// The GGUF side of each architecture: llama.cpp's architecture name, the hyperparameter
// key/values its loader reads (src/llama-model.cpp and src/models/<arch>.cpp), the GGUF names of
// the tensors (src/llama-arch.cpp), and the row permutation of Llama's q and k projections.
//
// Dimension letters as in ../../model/block.ts: V vocabulary, C width, L layers, NH query heads,
// KV key/value heads, HS head size, F MLP width.
import type { ModelSpec } from '../../model/config.js';
import type { GlobalModule, LayerModule } from '../../model/hf-names.js';
import type { LoraKind } from '../../lora/config.js';
import { inverseFrequencies } from '../../model/rope.js';
import { kv, type GgufKv } from './writer.js';

export type GgufArch = 'llama' | 'qwen2' | 'qwen3' | 'gemma3' | 'gpt2';

/** llama.cpp's architecture name for the model; an unsupported one is refused, naming it. */
export function ggufArch(spec: ModelSpec): GgufArch {
  switch (spec.modelType) {
    case 'llama':
    case 'qwen2':
    case 'qwen3':
    case 'gpt2':
      return spec.modelType;
    case 'gemma3':
    case 'gemma3_text':
      return 'gemma3';
    default:
      throw new Error(`GGUF export: model_type '${spec.modelType}' is not supported (supported: llama, qwen2, qwen3, gemma3, gemma3_text, gpt2)`);
  }
}

/** The GGUF tensor name (without .weight/.bias) of a layer module: blk.<layer>.<part>. */
const LAYER_PART: Record<LayerModule, string> = {
  attnNorm: 'attn_norm',
  q: 'attn_q',
  k: 'attn_k',
  v: 'attn_v',
  o: 'attn_output',
  qNorm: 'attn_q_norm',
  kNorm: 'attn_k_norm',
  postAttnNorm: 'post_attention_norm',
  mlpNorm: 'ffn_norm',
  postMlpNorm: 'post_ffw_norm',
  gate: 'ffn_gate',
  up: 'ffn_up',
  down: 'ffn_down',
};
export const GLOBAL_PART: Record<GlobalModule, string> = { embed: 'token_embd', positions: 'position_embd', finalNorm: 'output_norm', lmHead: 'output' };

export function layerTensorBase(spec: ModelSpec, layer: number, module: LayerModule): string {
  const part = spec.arch === 'gpt2' && module === 'q' ? 'attn_qkv' : LAYER_PART[module];
  return `blk.${layer}.${part}`;
}

const LORA_PART: Record<LoraKind, LayerModule> = { q: 'q', k: 'k', v: 'v', o: 'o', gate: 'gate', up: 'up', down: 'down', qkv: 'q' };

/** The GGUF weight name a LoRA module wraps, e.g. blk.0.attn_q.weight (GPT-2's c_attn: attn_qkv). */
export function loraTargetName(spec: ModelSpec, layer: number, kind: LoraKind): string {
  return `${layerTensorBase(spec, layer, LORA_PART[kind])}.weight`;
}

/**
 * The heads whose rows llama.cpp permutes in a projection: Llama's q (NH heads) and k (KV heads),
 * null for every other projection and architecture. llama.cpp's 'llama' graph rotates adjacent
 * pairs (x[2i], x[2i+1]) while Hugging Face rotates halves (x[i], x[i + HS/2]), so its converter
 * reorders each head's rows (see permuteHeadRows) and a LoRA B must get the same order.
 */
export function permutedHeads(spec: ModelSpec, module: LayerModule | LoraKind): number | null {
  if (ggufArch(spec) !== 'llama') return null;
  if (module === 'q') return spec.NH;
  if (module === 'k') return spec.KV;
  return null;
}

/**
 * Rows of a row-major [heads · HS, cols] matrix reordered within each head from Hugging Face's
 * halves to llama.cpp's pairs: new row h·HS + 2i + j is old row h·HS + j·HS/2 + i (i < HS/2,
 * j ∈ {0, 1}), the converter's reshape(heads, 2, HS/2, cols).swapaxes(1, 2). A bias is cols = 1.
 */
export function permuteHeadRows(data: Float32Array, heads: number, cols: number, what: string): Float32Array {
  const rows = data.length / cols;
  const HS = rows / heads;
  if (!Number.isInteger(rows) || !Number.isInteger(HS) || HS % 2 !== 0) {
    throw new Error(`GGUF export: ${what}: ${data.length} values are not ${heads} heads of an even head size × ${cols} columns`);
  }
  const half = HS / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const to = (h * HS + 2 * i + j) * cols;
        const from = (h * HS + j * half + i) * cols;
        out.set(data.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/**
 * Llama 3 RoPE scaling as llama.cpp takes it: the tensor rope_freqs.weight [HS/2] of factors by
 * which each unscaled frequency θ^(−2i/HS) is divided, here f_i = default_i / scaled_i with both
 * inverse frequencies from ../../model/rope.ts (the engine's own); null for any other RoPE.
 */
export function ropeFreqFactors(spec: ModelSpec): Float32Array | null {
  const rope = spec.ropes[0];
  if (!rope || rope.type !== 'llama3' || ggufArch(spec) !== 'llama') return null;
  const plain = inverseFrequencies({ type: 'default', theta: rope.theta }, spec.HS);
  const scaled = inverseFrequencies(rope, spec.HS);
  return plain.map((f, i) => f / scaled[i]);
}

/** The RoPE key/values of one RoPE (freq_base and scaling); llama3 scaling is refused. */
function ropeKvs(a: string, rope: ModelSpec['ropes'][number], what: string): GgufKv[] {
  const out = [kv.f32(`${a}.rope.freq_base`, rope.theta)];
  if (rope.type === 'linear') out.push(kv.str(`${a}.rope.scaling.type`, 'linear'), kv.f32(`${a}.rope.scaling.factor`, rope.factor));
  if (rope.type === 'llama3' && a !== 'llama') throw new Error(`GGUF export: ${what} uses Llama 3 RoPE scaling (rope_type llama3), which llama.cpp reads for llama models only`);
  return out;
}

/**
 * The sliding-window pattern n for llama.cpp's rule "layer l slides unless l mod n = n − 1"
 * (n = L + 1 or more: every layer slides), matching the spec's per-layer windows; refused if none does.
 */
function swaPattern(spec: ModelSpec): number {
  for (let n = 1; n <= spec.L + 1; n++) {
    if (spec.layers.every((layer, l) => (layer.window !== null) === (l % n < n - 1))) return n;
  }
  throw new Error(`GGUF export: the layers' sliding windows (${spec.layers.map((l) => (l.window === null ? 'full' : 'sliding')).join(', ')}) follow no repeating pattern llama.cpp can express`);
}

/** The hyperparameter key/values llama.cpp's loader reads for this architecture. */
export function archKvs(spec: ModelSpec): GgufKv[] {
  const a = ggufArch(spec);
  const out: GgufKv[] = [
    kv.str('general.architecture', a),
    kv.u32(`${a}.vocab_size`, spec.V),
    kv.u32(`${a}.context_length`, spec.maxPositions),
    kv.u32(`${a}.embedding_length`, spec.C),
    kv.u32(`${a}.block_count`, spec.L),
    kv.u32(`${a}.feed_forward_length`, spec.F),
    kv.u32(`${a}.attention.head_count`, spec.NH),
    kv.u32(`${a}.attention.head_count_kv`, spec.KV),
  ];
  if (a === 'gpt2') {
    out.push(kv.f32(`${a}.attention.layer_norm_epsilon`, spec.normEps));
    return out;
  }
  out.push(kv.f32(`${a}.attention.layer_norm_rms_epsilon`, spec.normEps));
  if (a === 'gemma3' || spec.HS * spec.NH !== spec.C) out.push(kv.u32(`${a}.attention.key_length`, spec.HS), kv.u32(`${a}.attention.value_length`, spec.HS));
  out.push(kv.u32(`${a}.rope.dimension_count`, spec.HS));
  const ropeOf = (l: number) => {
    const r = spec.layers[l].rope;
    if (r === null) throw new Error(`GGUF export: layer ${l} of this ${spec.modelType} model has no RoPE, which llama.cpp's ${a} graph cannot express`);
    return spec.ropes[r];
  };
  if (a !== 'gemma3') {
    if (spec.layers.some((l) => l.window !== null)) throw new Error(`GGUF export: this ${spec.modelType} model has sliding-window layers, which llama.cpp's ${a} graph does not apply`);
    const first = ropeOf(0);
    spec.layers.forEach((_, l) => {
      if (JSON.stringify(ropeOf(l)) !== JSON.stringify(first)) throw new Error(`GGUF export: layer ${l} has another RoPE than layer 0, which llama.cpp's ${a} graph cannot express`);
    });
    out.push(...ropeKvs(a, first, `${spec.modelType} model`));
    return out;
  }
  // Gemma 3: llama.cpp scales attention scores by 1/√HS (by 1/√(C/NH) for the 62-layer 27B), not
  // by query_pre_attn_scalar^-½; a model whose scalar gives another scale cannot be expressed.
  const llamaCppScale = 1 / Math.sqrt(spec.L === 62 ? Math.floor(spec.C / spec.NH) : spec.HS);
  if (spec.attnScale !== null && Math.abs(spec.attnScale - llamaCppScale) > 1e-6 * llamaCppScale) {
    throw new Error(`GGUF export: this gemma3 model scales attention by ${spec.attnScale} (query_pre_attn_scalar), but llama.cpp's gemma3 graph uses ${llamaCppScale}`);
  }
  // Full-attention layers use the global RoPE, sliding layers rope.freq_base_swa.
  const full = spec.layers.findIndex((l) => l.window === null);
  const sliding = spec.layers.findIndex((l) => l.window !== null);
  out.push(...ropeKvs(a, ropeOf(full >= 0 ? full : 0), 'the full-attention layers'));
  if (sliding >= 0) {
    const local = ropeOf(sliding);
    if (local.type !== 'default') throw new Error('GGUF export: gemma3 sliding layers with a scaled RoPE cannot be expressed in llama.cpp');
    const windows = new Set(spec.layers.filter((l) => l.window !== null).map((l) => l.window));
    if (windows.size !== 1) throw new Error(`GGUF export: gemma3 layers have different sliding windows (${[...windows].join(', ')}); llama.cpp takes one`);
    out.push(kv.u32(`${a}.attention.sliding_window`, [...windows][0]!), kv.u32(`${a}.attention.sliding_window_pattern`, swaPattern(spec)), kv.f32(`${a}.rope.freq_base_swa`, local.theta));
  }
  if (spec.finalSoftcap !== null) out.push(kv.f32(`${a}.final_logit_softcapping`, spec.finalSoftcap));
  if (spec.attnSoftcap !== null) throw new Error('GGUF export: gemma3 with attention logit softcapping is not expressible in llama.cpp');
  return out;
}
