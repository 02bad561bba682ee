// The models the benchmark trains: stories260K (real weights from ../shared/models), and random
// weights in the exact shapes of real models (their published config.json, ./hub-configs.ts):
// SmolLM2-135M, Qwen2.5-0.5B, Qwen2.5-1.5B, Qwen3-0.6B, Llama 3.2 1B and 3B, Gemma 3 270M and 1B,
// built in memory so that the engine (LanguageModel.load) and the tfjs peer (loadWeights) read the
// same numbers. A shape whose config the engine does not take yet fails its own rows with the
// config's error, not the run.
//
// Random weights: a ModelSource holding config.json and a model.safetensors in Hugging Face's
// tensor names, F32, whose bytes are generated when read: every matrix and bias is normal with
// standard deviation 0.02 from a seeded generator (one stream per tensor, keyed by its name, so any
// byte range reads the same values every time), every norm weight is 1. Nothing holds the whole
// file: a read generates the tensors it overlaps. Host memory is what the reader keeps plus the
// largest tensor being generated: loadWeights keeps all weights as float32 (4 bytes a parameter:
// SmolLM2-135M 0.54 GB, Qwen2.5-0.5B 1.98 GB, Llama 3.2 3B 12.9 GB), and the largest tensor is the
// embedding (0.11 GB, 0.54 GB, 1.58 GB). Gemma's norms scale by (1 + weight): theirs are zeros.
// --memory-only reads 'tiled' weights (RandomFill): each tensor's first 65,536 values, repeated;
// with --weights nf4 it reads 'nf4' ones: a bitsandbytes NF4 checkpoint whose projections are
// random NF4 blocks (./random-nf4.ts), the other tensors tiled.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../src/lora/adapter.js';
import { parseModelConfig, type ModelSpec } from '../src/model/config.js';
import { folderSource } from '../src/model/source-node.js';
import type { ModelSource } from '../src/model/source.js';
import { globalModuleName, layerModuleName, type LayerModule } from '../src/model/weights.js';
import { GEMMA3_1B, GEMMA3_270M, LLAMA32_1B, LLAMA32_3B, QWEN25_05B, QWEN25_15B, QWEN3_06B, SMOLLM2_135M } from './hub-configs.js';
import { BNB_NF4_QUANTIZATION_CONFIG, randomNf4Tensors, type FileTensor } from './random-nf4.js';

export { GEMMA3_1B, GEMMA3_270M, LLAMA32_1B, LLAMA32_3B, QWEN25_05B, QWEN25_15B, QWEN3_06B, SMOLLM2_135M } from './hub-configs.js';

export interface BenchModel {
  /** The name on the command line and in the results. */
  name: string;
  /** What the weights are, for the table. */
  weights: 'real' | 'random';
  source: ModelSource;
}

/** The random-weight models: command-line name → config.json and the name in messages. */
export const RANDOM_MODELS: Record<string, { config: object; description: string }> = {
  'smollm2-135m': { config: SMOLLM2_135M, description: 'random SmolLM2-135M' },
  'qwen2.5-0.5b': { config: QWEN25_05B, description: 'random Qwen2.5-0.5B' },
  'qwen2.5-1.5b': { config: QWEN25_15B, description: 'random Qwen2.5-1.5B' },
  'qwen3-0.6b': { config: QWEN3_06B, description: 'random Qwen3-0.6B' },
  'llama3.2-1b': { config: LLAMA32_1B, description: 'random Llama 3.2 1B' },
  'llama3.2-3b': { config: LLAMA32_3B, description: 'random Llama 3.2 3B' },
  'gemma3-270m': { config: GEMMA3_270M, description: 'random Gemma 3 270M' },
  'gemma3-1b': { config: GEMMA3_1B, description: 'random Gemma 3 1B' },
};

/** Every model the benchmark knows, by its command-line name. */
export const MODEL_NAMES = ['stories260K', ...Object.keys(RANDOM_MODELS)] as readonly string[];

/** What a run on a GPU measures without --models (the others on request: they are larger, or newer architectures). */
export const DEFAULT_MODEL_NAMES = ['stories260K', 'smollm2-135m', 'qwen2.5-0.5b'] as const;

/** The shared fixtures folder: $WEBGPU_LORA_SHARED, else ../shared beside the working directory, shared/ in the repository, or ../shared beside it. */
export function sharedDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url)); // bench/ or dist/bench/
  const candidates = [process.env.WEBGPU_LORA_SHARED, join(process.cwd(), '..', 'shared'), join(here, '..', '..', 'shared'), join(here, '..', '..', '..', 'shared')];
  for (const c of candidates) if (c && existsSync(join(c, 'models'))) return resolve(c);
  return null;
}

/** The canonical spelling of a command-line model name (names are case-insensitive), or null for an unknown one. */
export function modelName(name: string): string | null {
  return MODEL_NAMES.find((n) => n.toLowerCase() === name.trim().toLowerCase()) ?? null;
}

/**
 * The model of a command-line name; throws for unknown names and a missing ../shared, and (when
 * its source is first read) for a config the engine does not take yet. `fill` says how random
 * weights are generated (RandomFill; stories260K's are real either way).
 */
export function benchModel(name: string, seed = 0, fill: RandomFill = 'normal'): BenchModel {
  const known = modelName(name);
  if (known === 'stories260K') {
    const shared = sharedDir();
    if (!shared) throw new Error('stories260K needs ../shared/models/stories260K (or WEBGPU_LORA_SHARED=<the shared folder>)');
    return { name: known, weights: 'real', source: folderSource(join(shared, 'models', 'stories260K')) };
  }
  if (known === null) throw new Error(`unknown model '${name}'; the benchmark knows ${MODEL_NAMES.join(', ')}`);
  const { config, description } = RANDOM_MODELS[known];
  return { name: known, weights: 'random', source: randomModelSource(config, seed, description, fill) };
}

export interface TensorShape {
  name: string;
  shape: number[];
  /** Norm weights are ones (zeros for Gemma's (1 + weight) norms: the same identity scale); everything else is random. */
  init: 'ones' | 'zeros' | 'normal';
  /** One of a layer's seven projection weights (what nf4 quantizes, and the 'nf4' fill stores as NF4 blocks). */
  projection?: true;
}

/** The switches of Gemma 3's specs (src/model/config.ts), read loosely so that this file compiles with specs that lack them. */
const gemmaSwitches = (spec: ModelSpec) => spec as { postNorms?: boolean; normOnePlusWeight?: boolean };

/**
 * Every tensor of a llama-family checkpoint (llama, qwen2, qwen3, Gemma 3), with Hugging Face's
 * names, in file order. Gemma 3's layers have four norms: input_layernorm before attention,
 * post_attention_layernorm on its output, pre_feedforward_layernorm before the MLP and
 * post_feedforward_layernorm on its output.
 */
export function llamaTensors(spec: ModelSpec): TensorShape[] {
  if (spec.arch === 'gpt2') throw new Error(`random weights are built for llama-family models, not ${spec.modelType}`);
  const { V, C, NH, KV, HS, F, L } = spec;
  const gemma = gemmaSwitches(spec);
  const norm: TensorShape['init'] = gemma.normOnePlusWeight ? 'zeros' : 'ones';
  const out: TensorShape[] = [];
  const add = (module: string | null, shape: number[], init: TensorShape['init'] = 'normal') => out.push({ name: `${module}.weight`, shape, init });
  const projection = (module: string | null, shape: number[]) => out.push({ name: `${module}.weight`, shape, init: 'normal', projection: true });
  const bias = (module: string | null, n: number) => out.push({ name: `${module}.bias`, shape: [n], init: 'normal' });
  add(globalModuleName(spec, 'embed'), [V, C]);
  for (let l = 0; l < L; l++) {
    const m = (x: LayerModule) => layerModuleName(spec, l, x);
    const at = `model.layers.${l}`;
    add(m('attnNorm'), [C], norm);
    projection(m('q'), [NH * HS, C]);
    projection(m('k'), [KV * HS, C]);
    projection(m('v'), [KV * HS, C]);
    if (spec.qkvBias) {
      bias(m('q'), NH * HS);
      bias(m('k'), KV * HS);
      bias(m('v'), KV * HS);
    }
    projection(m('o'), [C, NH * HS]);
    if (spec.oBias) bias(m('o'), C);
    if (spec.qkNorm) {
      add(m('qNorm'), [HS], norm);
      add(m('kNorm'), [HS], norm);
    }
    if (gemma.postNorms) {
      add(`${at}.post_attention_layernorm`, [C], norm);
      add(`${at}.pre_feedforward_layernorm`, [C], norm);
      add(`${at}.post_feedforward_layernorm`, [C], norm);
    } else add(m('mlpNorm'), [C], norm);
    projection(m('gate'), [F, C]);
    projection(m('up'), [F, C]);
    projection(m('down'), [C, F]);
    if (spec.mlpBias) {
      bias(m('gate'), F);
      bias(m('up'), F);
      bias(m('down'), C);
    }
  }
  add(globalModuleName(spec, 'finalNorm'), [C], norm);
  if (!spec.tieWordEmbeddings) add(globalModuleName(spec, 'lmHead'), [V, C]);
  return out;
}

/** FNV-1a of a tensor name, started from the seed: the tensor's own random stream. */
function streamOf(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * How a random model's tensors are filled: 'normal', every value drawn (what the timed steps and
 * the tfjs peer read); 'tiled', the first TILED_VALUES values drawn as 'normal' draws them and then
 * repeated to the tensor's end (about 5 ns a value here instead of 36); 'nf4', a bitsandbytes NF4
 * checkpoint (its config.json with a quantization_config) whose projections are random NF4
 * blocks, tiled the same way (./random-nf4.ts), and whose other tensors are 'tiled'.
 * --memory-only reads 'tiled' weights, or 'nf4' ones with --weights nf4: the bytes a model and its
 * training step allocate do not depend on the values.
 */
export type RandomFill = 'normal' | 'tiled' | 'nf4';

/** The values a 'tiled' tensor draws before it repeats them (a multiple of 64, NF4's block, and of 32, Q8_0's). */
export const TILED_VALUES = 1 << 16;

/** The values of one tensor: ones, or N(0, 0.02²) by Box–Muller over the tensor's mulberry32 stream (with 'tiled', repeated after TILED_VALUES). */
export function tensorValues(t: TensorShape, seed: number, fill: Exclude<RandomFill, 'nf4'> = 'normal'): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (t.init === 'zeros') return out;
  if (t.init === 'ones') return out.fill(1);
  const random = mulberry32(streamOf(seed, t.name));
  const drawn = fill === 'tiled' ? Math.min(n, TILED_VALUES) : n;
  for (let i = 0; i < drawn; i += 2) {
    const r = 0.02 * Math.sqrt(-2 * Math.log(1 - random())); // 1 − u is in (0, 1]: the log is finite
    const a = 2 * Math.PI * random();
    out[i] = r * Math.cos(a);
    if (i + 1 < drawn) out[i + 1] = r * Math.sin(a);
  }
  for (let have = drawn; have < n; have *= 2) out.copyWithin(have, 0, Math.min(have, n - have));
  return out;
}

/** safetensors' header for tensors stored in the given order: 8-byte length, JSON, spaces to a multiple of 8. */
function safetensorsLayout(tensors: FileTensor[]): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  let offset = 0;
  const offsets: number[] = [];
  const entries = tensors.map((t) => {
    const begin = offset;
    offsets.push(begin);
    offset += t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'F32' ? 4 : 1);
    return `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${begin},${offset}]}`;
  });
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const jsonBytes = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + jsonBytes).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(jsonBytes), true);
  header.set(json, 8);
  return { header, offsets, dataBytes: offset };
}

/** The tensors of the file for `fill`: F32 values, or with 'nf4' each projection as its four bnb tensors. */
function fileTensors(spec: ModelSpec, seed: number, fill: RandomFill): FileTensor[] {
  return llamaTensors(spec).flatMap((t): FileTensor[] => {
    if (fill === 'nf4' && t.projection) return randomNf4Tensors(t.name, t.shape, streamOf(seed, t.name), TILED_VALUES);
    const values = fill === 'normal' ? 'normal' : 'tiled';
    return [{ name: t.name, dtype: 'F32', shape: t.shape, bytes: () => new Uint8Array(tensorValues(t, seed, values).buffer) }];
  });
}

/**
 * A model folder with random weights for `config` (a config.json object), generated on read.
 * Tensors are stored sorted by name, as safetensors' own writer stores them, so the bytes equal
 * writeSafetensors' for the same tensors. With 'nf4', config.json gains the quantization_config
 * of a bitsandbytes NF4 checkpoint (./random-nf4.ts).
 */
export function randomModelSource(config: object, seed = 0, description = 'random model', fill: RandomFill = 'normal'): ModelSource {
  const spec = parseModelConfig(config, `${description}/config.json`);
  const tensors = fileTensors(spec, seed, fill).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { header, offsets, dataBytes } = safetensorsLayout(tensors);
  const stored = fill === 'nf4' ? { ...config, quantization_config: BNB_NF4_QUANTIZATION_CONFIG } : config;
  const configBytes = new TextEncoder().encode(JSON.stringify(stored, null, 2));
  const files: Record<string, number> = { 'config.json': configBytes.length, 'model.safetensors': header.length + dataBytes };
  const size = async (file: string) => {
    if (!Object.hasOwn(files, file)) throw new Error(`${description}/${file} does not exist`);
    return files[file];
  };

  const byOffset = new Map(offsets.map((begin, i) => [begin, i]));

  /**
   * Bytes [start, end) of model.safetensors. A read of exactly one tensor (what the loader reads)
   * returns its generated bytes as they are, with no second copy of the largest tensors held.
   */
  function readWeights(start: number, end: number): Uint8Array {
    const one = byOffset.get(start - header.length);
    if (one !== undefined && start >= header.length && end - header.length === (one + 1 < tensors.length ? offsets[one + 1] : dataBytes)) {
      const bytes = tensors[one].bytes();
      if (bytes.length === end - start) return bytes;
    }
    const out = new Uint8Array(Math.max(0, end - start));
    if (start < header.length) out.set(header.subarray(start, Math.min(end, header.length)));
    const from = Math.max(start, header.length) - header.length; // data-section range [from, to)
    const to = end - header.length;
    tensors.forEach((t, i) => {
      const begin = offsets[i];
      const stop = i + 1 < tensors.length ? offsets[i + 1] : dataBytes;
      if (stop <= from || begin >= to) return;
      const bytes = t.bytes();
      const lo = Math.max(from, begin);
      const hi = Math.min(to, stop);
      out.set(bytes.subarray(lo - begin, hi - begin), lo + header.length - start);
    });
    return out;
  }

  return {
    description,
    exists: async (file) => Object.hasOwn(files, file),
    size,
    async read(file, start = 0, end?: number) {
      const stop = Math.min(end ?? (await size(file)), await size(file));
      if (file === 'config.json') return configBytes.slice(start, stop);
      return readWeights(start, stop);
    },
  };
}

/** Parameters of a llama-family spec (every tensor's elements). */
export function parameterCount(spec: ModelSpec): number {
  return llamaTensors(spec).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}
