// The weights of a Hugging Face model folder, read from safetensors into one canonical CPU layout
// for both architectures: every linear weight as nn.Linear stores it, [out, in] row-major, so that
// y = x·Wᵀ (+ b). GPT-2's Conv1D weights ([in, out]) are transposed here, and its fused c_attn is
// split into q, k and v. Every float dtype (F32, F16, BF16, F64) is widened to f32; any other
// dtype, and an inf or NaN in a weight, is refused (readWeightF32), naming the tensor.
// A gemma3 (multimodal) checkpoint is read for its language model only (model.language_model.*,
// or language_model.model.* as transformers 4 saved it); its vision tower is left alone.
// A bitsandbytes 4-bit NF4 checkpoint (./bnb.ts) is read as it is: each quantized projection is
// handed on as this engine's nf4 words (an Nf4CpuTensor), not re-quantized; loadWeights
// dequantizes them to f32 (NF4[code] · absmax, as the GPU reads them).
// Dimension letters as in ./block.ts's legend; P = maxPositions.
import { BLOCK_LAYOUT } from '../gpu/quant/layout.js';
import { dequantizeNf4 } from '../gpu/quant/nf4.js';
import { locateBnbWeight, readBnbNf4, type BnbWeight } from './bnb.js';
import type { ModelSpec } from './config.js';
import { checkpointNames, globalModuleName, layerModuleName, type GlobalModule, type LayerModule } from './hf-names.js';
import { FLOAT_DTYPES, readSafetensorsHeader, readWeightF32, type SafetensorsHeader, type TensorInfo } from './safetensors.js';
import { readJsonIfExists, type ModelSource } from './source.js';

export { loadModelSpec, type GenerationDefaults } from './config.js';
export { checkpointNames, globalModuleName, isConv1D, layerModuleName, modelPrefix, type GlobalModule, type LayerModule } from './hf-names.js';

export interface CpuTensor {
  data: Float32Array;
  shape: number[];
}

/**
 * A projection of a bitsandbytes NF4 checkpoint as read: [N, K] (nn.Linear [out, in]) in this
 * engine's nf4 words (../gpu/quant/nf4.ts: blocks of 64, the f32 absmax, then the codes).
 */
export interface Nf4CpuTensor {
  nf4: Uint32Array;
  shape: number[];
}

/** What the loader hands a sink: f32 values, or a bnb checkpoint's projection still in NF4. */
export type LoadedTensor = CpuTensor | Nf4CpuTensor;

/** `t` as f32 values: an Nf4CpuTensor dequantized (NF4[code] · absmax in f32), a CpuTensor as it is. */
export function tensorFloats(t: LoadedTensor): CpuTensor {
  if (!('nf4' in t)) return t;
  return { data: dequantizeNf4(t.nf4, t.shape.reduce((a, b) => a * b, 1)), shape: t.shape };
}

export interface LayerWeights {
  attnNorm: CpuTensor; // [C] input_layernorm / ln_1
  attnNormBias?: CpuTensor; // [C] gpt2
  q: CpuTensor; // [NH·HS, C]
  k: CpuTensor; // [KV·HS, C]
  v: CpuTensor; // [KV·HS, C]
  qBias?: CpuTensor; // [NH·HS]
  kBias?: CpuTensor; // [KV·HS]
  vBias?: CpuTensor; // [KV·HS]
  o: CpuTensor; // [C, NH·HS]
  oBias?: CpuTensor; // [C]
  qNorm?: CpuTensor; // [HS] qwen3, gemma3
  kNorm?: CpuTensor; // [HS] qwen3, gemma3
  postAttnNorm?: CpuTensor; // [C] gemma3's post_attention_layernorm (on the attention output)
  mlpNorm: CpuTensor; // [C] post_attention_layernorm / ln_2 / gemma3's pre_feedforward_layernorm
  mlpNormBias?: CpuTensor; // [C] gpt2
  postMlpNorm?: CpuTensor; // [C] gemma3's post_feedforward_layernorm (on the MLP output)
  gate?: CpuTensor; // [F, C] llama family
  gateBias?: CpuTensor; // [F] llama with mlp_bias
  up: CpuTensor; // [F, C] llama up_proj; gpt2 mlp.c_fc transposed
  upBias?: CpuTensor; // [F]
  down: CpuTensor; // [C, F] llama down_proj; gpt2 mlp.c_proj transposed
  downBias?: CpuTensor; // [C]
}

export interface ModelWeights {
  embed: CpuTensor; // [V, C]
  positions?: CpuTensor; // [P, C] gpt2
  layers: LayerWeights[];
  finalNorm: CpuTensor; // [C]
  finalNormBias?: CpuTensor; // [C] gpt2
  lmHead?: CpuTensor; // [V, C]; absent when tied to embed
}

export class WeightsError extends Error {
  override name = 'WeightsError';
}

// ---- Finding tensors in one file or in shards ------------------------------------------------

interface TensorIndex {
  /** The file named in "missing" errors: model.safetensors or the shard index. */
  where: string;
  find(name: string): Promise<{ header: SafetensorsHeader; info: TensorInfo } | undefined>;
}

/** model.safetensors, or the shards listed in model.safetensors.index.json ({weight_map: {name: file}}). */
async function openTensorIndex(source: ModelSource): Promise<TensorIndex> {
  const single = 'model.safetensors';
  if (await source.exists(single)) {
    const header = await readSafetensorsHeader(source, single);
    return { where: `${source.description}/${single}`, find: async (name) => withInfo(header, name) };
  }
  const indexFile = 'model.safetensors.index.json';
  const where = `${source.description}/${indexFile}`;
  const index = await readJsonIfExists<{ weight_map?: unknown }>(source, indexFile);
  if (index === null) {
    throw new WeightsError(`${source.description} has neither model.safetensors nor ${indexFile} (only safetensors weights are supported)`);
  }
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || !Object.values(map).every((f) => typeof f === 'string')) {
    throw new WeightsError(`${where}: weight_map must be an object of tensor name → shard file name`);
  }
  const weightMap = map as Record<string, string>;
  // The index is untrusted: a shard must be a file inside the model folder, never '../x' or '/x'.
  const outside = Object.values(weightMap).find((f) => !isFileInFolder(f));
  if (outside !== undefined) {
    throw new WeightsError(`${where}: weight_map names the shard ${JSON.stringify(outside).slice(0, 200)}, which is not a file inside the model folder (a relative path without '.', '..', '\\' or ':')`);
  }
  const headers = new Map<string, Promise<SafetensorsHeader>>();
  return {
    where,
    async find(name) {
      if (!Object.hasOwn(weightMap, name)) return undefined;
      const file = weightMap[name];
      if (!headers.has(file)) headers.set(file, readSafetensorsHeader(source, file));
      const header = await headers.get(file)!;
      const found = withInfo(header, name);
      if (!found) throw new WeightsError(`${where} puts tensor '${name}' in ${file}, but ${source.description}/${file} does not have it`);
      return found;
    },
  };
}

/** Whether `f` is a relative path of plain segments: no '', '.' or '..' segment, no leading '/', no '\\', ':' or NUL. */
function isFileInFolder(f: string): boolean {
  return !/[\\:\0]/.test(f) && f.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

function withInfo(header: SafetensorsHeader, name: string) {
  const info = header.tensors.get(name);
  return info && { header, info };
}

// ---- Loading --------------------------------------------------------------------------------

/** The tensors to read, by canonical name, with the shape each must have in the file. */
function expectedTensors(spec: ModelSpec): Map<string, number[]> {
  const { V, C, NH, KV, HS, F, L } = spec;
  const want = new Map<string, number[]>();
  const add = (module: string | null, weight: number[], bias: number[] | null) => {
    want.set(`${module}.weight`, weight);
    if (bias) want.set(`${module}.bias`, bias);
  };
  const g = (m: Parameters<typeof globalModuleName>[1]) => globalModuleName(spec, m);
  add(g('embed'), [V, C], null);
  if (spec.arch === 'gpt2') add(g('positions'), [spec.maxPositions, C], null);
  for (let i = 0; i < L; i++) {
    const m = (x: LayerModule) => layerModuleName(spec, i, x);
    if (spec.arch === 'gpt2') {
      const QKV = (NH + 2 * KV) * HS;
      add(m('attnNorm'), [C], [C]);
      add(m('q'), [C, QKV], [QKV]);
      add(m('o'), [NH * HS, C], [C]);
      add(m('mlpNorm'), [C], [C]);
      add(m('up'), [C, F], [F]);
      add(m('down'), [F, C], [C]);
      continue;
    }
    add(m('attnNorm'), [C], null);
    add(m('q'), [NH * HS, C], spec.qkvBias ? [NH * HS] : null);
    add(m('k'), [KV * HS, C], spec.qkvBias ? [KV * HS] : null);
    add(m('v'), [KV * HS, C], spec.qkvBias ? [KV * HS] : null);
    add(m('o'), [C, NH * HS], spec.oBias ? [C] : null);
    if (spec.qkNorm) {
      add(m('qNorm'), [HS], null);
      add(m('kNorm'), [HS], null);
    }
    if (spec.postNorms) add(m('postAttnNorm'), [C], null);
    add(m('mlpNorm'), [C], null);
    if (spec.postNorms) add(m('postMlpNorm'), [C], null);
    add(m('gate'), [F, C], spec.mlpBias ? [F] : null);
    add(m('up'), [F, C], spec.mlpBias ? [F] : null);
    add(m('down'), [C, F], spec.mlpBias ? [C] : null);
  }
  add(g('finalNorm'), [C], spec.arch === 'gpt2' ? [C] : null);
  if (!spec.tieWordEmbeddings) add(g('lmHead'), [V, C], null);
  return want;
}

/** [rows, cols] row-major → its transpose [cols, rows]. */
function transpose(t: CpuTensor): CpuTensor {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  return { data: out, shape: [cols, rows] };
}

/** Rows [from, to) of a [rows, cols] tensor (or elements of a vector), copied. */
function rowSlice(t: CpuTensor, from: number, to: number): CpuTensor {
  const width = t.shape.length > 1 ? t.shape[1] : 1;
  return { data: t.data.slice(from * width, to * width), shape: t.shape.length > 1 ? [to - from, width] : [to - from] };
}

/** Weights in the layout of ModelWeights with each tensor replaced by a T (what a TensorSink made of it). */
export type LayerWeightsOf<T> = { [K in keyof LayerWeights]: T };
export type ModelWeightsOf<T> = { [K in keyof ModelWeights]: K extends 'layers' ? LayerWeightsOf<T>[] : T };

/**
 * What the loader hands each tensor to as soon as it is read, with its field name in the
 * canonical layout ('embed', 'positions', 'layers.3.q', 'finalNorm', 'finalNormBias', 'lmHead'):
 * an uploader puts it on the GPU and lets the CPU copy go, so that no more than one tensor of the
 * model is held in f32 on the CPU at a time.
 */
export type TensorSink<T> = (field: string, t: LoadedTensor) => T;

/**
 * Read every weight the spec needs from model.safetensors or its shards into CPU tensors, checking
 * each shape. Names may carry or omit the `model.` / `transformer.` prefix. onTensor is called
 * after each tensor with its name and the count done out of the total. A bitsandbytes NF4
 * checkpoint's projections come dequantized (tensorFloats).
 */
export async function loadWeights(
  source: ModelSource,
  spec: ModelSpec,
  onTensor?: (name: string, done: number, total: number) => void,
): Promise<ModelWeights> {
  return streamWeights(source, spec, (_field, t) => tensorFloats(t), onTensor) as Promise<ModelWeights>;
}

/**
 * loadWeights, handing each tensor to `sink` as it is read (GPT-2's after its transpose and
 * split) and keeping what the sink returns. Every tensor is found and its shape checked in the
 * headers before any data is read: a missing or misshapen tensor is reported before the sink
 * sees anything. A projection weight stored as bitsandbytes NF4 (U8 codes with its quant_state
 * and absmax tensors beside it) is found with its companion tensors, checked against the config's
 * shape, and handed on as an Nf4CpuTensor.
 */
export async function streamWeights<T>(
  source: ModelSource,
  spec: ModelSpec,
  sink: TensorSink<T>,
  onTensor?: (name: string, done: number, total: number) => void,
): Promise<ModelWeightsOf<T>> {
  const index = await openTensorIndex(source);
  const want = expectedTensors(spec);
  const located = new Map<string, { header: SafetensorsHeader; info: TensorInfo }>();
  const bnb = new Map<string, BnbWeight>();
  const projections = projectionWeights(spec);
  for (const [name, shape] of want) {
    const names = checkpointNames(spec, name);
    let found: Awaited<ReturnType<TensorIndex['find']>>;
    for (const n of names) if ((found = await index.find(n))) break;
    if (!found) {
      const others = names.slice(1).map((n) => `'${n}'`).join(' or ');
      throw new WeightsError(`${index.where}: tensor '${name}'${others ? ` (or ${others})` : ''} is missing; expected shape [${shape.join(', ')}]`);
    }
    const { header, info } = found;
    const quantized = projections.has(name) ? await locateBnbWeight(source, (n) => index.find(n), found, shape) : null;
    if (quantized) {
      bnb.set(name, quantized);
      located.set(name, found);
      continue;
    }
    if (!FLOAT_DTYPES.includes(info.dtype)) {
      const why = info.dtype === 'U8' ? ' (U8 is read only as the packed codes of a bitsandbytes nf4 projection, with its quant_state)' : '';
      throw new WeightsError(`${source.description}/${header.file}: tensor '${info.name}' has dtype ${info.dtype}; a float weight (${FLOAT_DTYPES.join(', ')}) is needed here${why}`);
    }
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new WeightsError(
        `${source.description}/${header.file}: tensor '${info.name}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] from the config (${specSummary(spec)})`,
      );
    }
    located.set(name, found);
  }
  let done = 0;
  const take: TakeTensor = async (name) => {
    const { header, info } = located.get(name)!;
    const q = bnb.get(name);
    const shape = want.get(name)!;
    const t: LoadedTensor = q ? { nf4: checkNf4Finite(await readBnbNf4(source, q, shape), source, q), shape } : { data: await readWeightF32(source, header, info.name), shape: info.shape };
    onTensor?.(info.name, ++done, want.size);
    return t;
  };
  // GPT-2's weights are transposed and split as floats (its bnb checkpoints are refused by the config).
  return spec.arch === 'gpt2' ? assembleGpt2(spec, async (name) => tensorFloats(await take(name)), sink) : assembleLlama(spec, take, sink);
}

/**
 * `words` (a bnb weight as nf4 words: per block of 64 elements the f32 absmax, then 8 words of
 * codes) unless an absmax is inf or NaN, which would make its 64 weights so: an error names the
 * absmax tensor and the block. One read of every ninth word, no more.
 */
function checkNf4Finite(words: Uint32Array, source: ModelSource, w: BnbWeight): Uint32Array {
  const { elements, words: W } = BLOCK_LAYOUT.nf4;
  for (let b = 0; b * W < words.length; b++) {
    if ((words[b * W] & 0x7f800000) === 0x7f800000) {
      const value = new Float32Array(new Uint32Array([words[b * W]]).buffer)[0];
      throw new WeightsError(
        `${source.description}/${w.absmax.header.file}: tensor '${w.absmax.info.name}' gives block ${b} (elements ${b * elements} to ${b * elements + elements - 1} of '${w.weight.info.name}') an absmax of ${value}; a weight must be finite: the file is corrupt`,
      );
    }
  }
  return words;
}

/** Reads one tensor by its canonical name (one that expectedTensors lists). */
type TakeTensor = (name: string) => Promise<LoadedTensor>;

/** The canonical names of the layers' projection weights (`<q_proj module>.weight`, ...): the tensors a bnb checkpoint quantizes. */
function projectionWeights(spec: ModelSpec): Set<string> {
  const out = new Set<string>();
  const fields: LayerModule[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
  for (let i = 0; i < spec.L; i++) {
    for (const f of fields) {
      const m = layerModuleName(spec, i, f);
      if (m) out.add(`${m}.weight`);
    }
  }
  return out;
}

function specSummary(s: ModelSpec): string {
  return `${s.modelType}: V ${s.V}, C ${s.C}, L ${s.L}, NH ${s.NH}, KV ${s.KV}, HS ${s.HS}, F ${s.F}, P ${s.maxPositions}`;
}

async function assembleLlama<T>(spec: ModelSpec, take: TakeTensor, sink: TensorSink<T>): Promise<ModelWeightsOf<T>> {
  const g = (x: GlobalModule) => globalModuleName(spec, x);
  const out = { embed: sink('embed', await take(`${g('embed')}.weight`)) } as ModelWeightsOf<T>;
  out.layers = [];
  for (let i = 0; i < spec.L; i++) {
    const m = (x: LayerModule) => layerModuleName(spec, i, x);
    const layer = {} as Record<string, T>;
    // Only fields that exist: Object.values(layer) is every tensor the model uses.
    const put = async (field: keyof LayerWeights, name: string) => {
      layer[field] = sink(`layers.${i}.${field}`, await take(name));
    };
    const module = async (field: LayerModule, bias: { field: keyof LayerWeights; when: boolean } | null) => {
      await put(field, `${m(field)}.weight`);
      if (bias?.when) await put(bias.field, `${m(field)}.bias`);
    };
    await module('attnNorm', null);
    await module('q', { field: 'qBias', when: spec.qkvBias });
    await module('k', { field: 'kBias', when: spec.qkvBias });
    await module('v', { field: 'vBias', when: spec.qkvBias });
    await module('o', { field: 'oBias', when: spec.oBias });
    if (spec.qkNorm) {
      await module('qNorm', null);
      await module('kNorm', null);
    }
    if (spec.postNorms) await module('postAttnNorm', null);
    await module('mlpNorm', null);
    if (spec.postNorms) await module('postMlpNorm', null);
    await module('gate', { field: 'gateBias', when: spec.mlpBias });
    await module('up', { field: 'upBias', when: spec.mlpBias });
    await module('down', { field: 'downBias', when: spec.mlpBias });
    out.layers.push(layer as unknown as LayerWeightsOf<T>);
  }
  out.finalNorm = sink('finalNorm', await take(`${g('finalNorm')}.weight`));
  if (!spec.tieWordEmbeddings) out.lmHead = sink('lmHead', await take(`${g('lmHead')}.weight`));
  return out;
}

async function assembleGpt2<T>(spec: ModelSpec, take: (name: string) => Promise<CpuTensor>, sink: TensorSink<T>): Promise<ModelWeightsOf<T>> {
  const qRows = spec.NH * spec.HS;
  const kvRows = spec.KV * spec.HS;
  const g = (x: GlobalModule) => globalModuleName(spec, x);
  const out = {
    embed: sink('embed', await take(`${g('embed')}.weight`)),
    positions: sink('positions', await take(`${g('positions')}.weight`)),
  } as ModelWeightsOf<T>;
  out.layers = [];
  for (let i = 0; i < spec.L; i++) {
    const m = (x: LayerModule) => `${layerModuleName(spec, i, x)}`;
    const layer = {} as Record<string, T>;
    const put = (field: keyof LayerWeights, t: CpuTensor) => void (layer[field] = sink(`layers.${i}.${field}`, t));
    put('attnNorm', await take(`${m('attnNorm')}.weight`));
    put('attnNormBias', await take(`${m('attnNorm')}.bias`));
    // c_attn: weight [C, q|k|v] → transposed [q|k|v, C], split by rows; its bias splits the same way.
    const split = (t: CpuTensor) => [rowSlice(t, 0, qRows), rowSlice(t, qRows, qRows + kvRows), rowSlice(t, qRows + kvRows, qRows + 2 * kvRows)];
    const [q, k, v] = split(transpose(await take(`${m('q')}.weight`)));
    const [qBias, kBias, vBias] = split(await take(`${m('q')}.bias`));
    put('q', q);
    put('k', k);
    put('v', v);
    put('qBias', qBias);
    put('kBias', kBias);
    put('vBias', vBias);
    put('o', transpose(await take(`${m('o')}.weight`))); // c_proj [NH·HS, C] → [C, NH·HS]
    put('oBias', await take(`${m('o')}.bias`));
    put('mlpNorm', await take(`${m('mlpNorm')}.weight`));
    put('mlpNormBias', await take(`${m('mlpNorm')}.bias`));
    put('up', transpose(await take(`${m('up')}.weight`))); // c_fc [C, F] → [F, C]
    put('upBias', await take(`${m('up')}.bias`));
    put('down', transpose(await take(`${m('down')}.weight`))); // c_proj [F, C] → [C, F]
    put('downBias', await take(`${m('down')}.bias`));
    out.layers.push(layer as unknown as LayerWeightsOf<T>);
  }
  out.finalNorm = sink('finalNorm', await take(`${g('finalNorm')}.weight`));
  out.finalNormBias = sink('finalNormBias', await take(`${g('finalNorm')}.bias`));
  if (!spec.tieWordEmbeddings) out.lmHead = sink('lmHead', await take(`${g('lmHead')}.weight`));
  return out;
}
