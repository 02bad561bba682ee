// Merging an adapter into its base model: W' = W + s·B·A for every wrapped module (PEFT's
// merge_and_unload), written out as a complete Hugging Face model folder that needs no PEFT.
//
// Layouts: A [r, in], B [out, r]; ΔW = s·B·A is [out, in]. An nn.Linear weight is [out, in] and gets
// ΔW added as is; a GPT-2 Conv1D weight is [in, out] and gets ΔWᵀ (PEFT's fan_in_fan_out). The
// arithmetic follows PEFT's in float32: ΔW = fp32(fp32(B·A)·s), then W + ΔW rounded to fp32, with
// the r-term dot products summed in float64 (r is small; the rounding of each sum is PEFT's).
//
// A quantized base (MergeOptions.weights 'nf4' or 'q8': the adapter was trained on a model loaded
// with that weight storage): every projection that the storage quantizes, by the same plan as the
// GPU's (../model/gpu-weights.ts planWeights), is first quantized and dequantized by ../gpu/quant's
// rules, W_q = dequant(quant(W)), exactly the values the GPU computed with, and the merged weight
// is W_q + s·B·A (PEFT's merge on a 4-bit base also adds ΔW to the dequantized weight). That is
// every projection of every layer, wrapped or not; the embedding, head, norms, biases and a q8
// projection whose rows are not a multiple of 32 long are written as the checkpoint has them.
// MergeOptions.dtype rounds every float tensor of the written file to f16 or bf16 (to nearest
// even) after the merge, which is then done in f32 as above.
import { checkAdapterFinite } from './peft.js';
import { dequantizeNf4, quantizeNf4 } from '../gpu/quant/nf4.js';
import { dequantizeQ8, quantizeQ8 } from '../gpu/quant/q8.js';
import { isQuantDType, type QuantDType } from '../gpu/quant/layout.js';
import type { ModelSpec } from '../model/config.js';
import { planWeights, PROJECTION_FIELDS } from '../model/gpu-weights.js';
import { readSafetensorsHeader, readTensorI32, readWeightF32, writeSafetensors, type SafetensorsHeader, type TensorInfo, type TensorToWrite } from '../model/safetensors.js';
import { readJsonIfExists, type ModelSource } from '../model/source.js';
import { checkpointNames, isConv1D, layerModuleName, type LayerModule } from '../model/weights.js';
import { checkAdapterWeights, type LoraAdapter } from './adapter.js';
import { loraScale, type LoraModule } from './config.js';

/**
 * W + s·B·A in the checkpoint's own layout, as a new array (the inputs are not changed).
 * shapeHF is [out, in] for nn.Linear, [in, out] for Conv1D; A is [r, in], B is [out, r].
 */
export function mergeIntoTensor(weightHF: Float32Array, shapeHF: number[], A: Float32Array, B: Float32Array, scale: number, conv1D: boolean): Float32Array {
  if (shapeHF.length !== 2) throw new Error(`mergeIntoTensor: the weight must be 2-D, got shape [${shapeHF.join(', ')}]`);
  const [inF, outF] = conv1D ? shapeHF : [shapeHF[1], shapeHF[0]];
  if (weightHF.length !== inF * outF) throw new Error(`mergeIntoTensor: shape [${shapeHF.join(', ')}] needs ${inF * outF} elements, the weight has ${weightHF.length}`);
  const r = A.length / inF;
  if (!Number.isInteger(r) || r < 1 || B.length !== outF * r) {
    throw new Error(`mergeIntoTensor: A (${A.length} elements) and B (${B.length}) do not fit [r, ${inF}] and [${outF}, r] for weight [${shapeHF.join(', ')}]${conv1D ? ' (Conv1D, [in, out])' : ' ([out, in])'}`);
  }
  const out = new Float32Array(weightHF);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      let dot = 0;
      for (let k = 0; k < r; k++) dot += B[o * r + k] * A[k * inF + i];
      const delta = Math.fround(Math.fround(dot) * scale);
      const at = conv1D ? i * outF + o : o * inF + i;
      out[at] = weightHF[at] + delta; // stored as fp32: rounded once, like torch's in-place add
    }
  }
  return out;
}

/** Files copied unchanged from the base model folder, where it has them. */
export const COPIED_MODEL_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
  'chat_template.json',
  'added_tokens.json',
  'tokenizer.model',
];

/** The weight storages an adapter can have been trained on, for merging: f32, or a quantized base. */
export const MERGE_BASES = ['f32', 'nf4', 'q8'] as const;
export type MergeBase = (typeof MERGE_BASES)[number];

/** The dtypes the merged model.safetensors can be written in. */
export const MERGE_DTYPES = ['f32', 'f16', 'bf16'] as const;
export type MergeDType = (typeof MERGE_DTYPES)[number];

const SAFETENSORS_DTYPE = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const satisfies Record<MergeDType, TensorToWrite['dtype']>;
/** config.json's torch_dtype / dtype of each. */
const TORCH_DTYPE: Record<MergeDType, string> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };

export interface MergeOptions {
  /**
   * The weight storage of the base the adapter was trained on (default 'f32'): with 'nf4' or 'q8'
   * each projection that storage quantizes is merged as dequant(quant(W)) + s·B·A (see the header).
   */
  weights?: MergeBase;
  /** The dtype of the written float tensors (default 'f32'); config.json's torch_dtype says the same. */
  dtype?: MergeDType;
  /** Called after each tensor is written: its name and the count done out of the total. */
  onTensor?: (name: string, done: number, total: number) => void;
}

/** Rows [from, to) of a projection's [out, in] matrix (all of it but for GPT-2's fused c_attn), quantized as `dtype`. */
interface QuantizedPart {
  from: number;
  to: number;
  dtype: QuantDType;
}

/**
 * The projections that `weights` quantizes, by checkpoint tensor name: for each, the row ranges of
 * its [out, in] matrix (a Conv1D weight transposed) that the GPU stores quantized, each planned by
 * planWeights as its own tensor (GPT-2's c_attn is the q, k and v parts, in that order, as
 * ../model/weights.ts splits it). Projections the plan keeps in a float format are absent.
 */
function quantizedProjections(spec: ModelSpec, weights: MergeBase, has: (name: string) => boolean): Map<string, QuantizedPart[]> {
  const out = new Map<string, QuantizedPart[]>();
  if (weights === 'f32') return out;
  const plan = planWeights(spec, weights);
  plan.layers.forEach((layer, i) => {
    const rowsDone = new Map<string, number>(); // rows of each module's matrix before the next part
    for (const field of PROJECTION_FIELDS) {
      const t = (layer as Record<string, { shape: number[]; dtype: string } | undefined>)[field];
      const module = layerModuleName(spec, i, field as LayerModule);
      if (!t || !module) continue;
      const canonical = `${module}.weight`;
      const name = checkpointNames(spec, canonical).find(has) ?? canonical;
      const from = rowsDone.get(name) ?? 0;
      rowsDone.set(name, from + t.shape[0]);
      if (!isQuantDType(t.dtype)) continue;
      out.set(name, [...(out.get(name) ?? []), { from, to: from + t.shape[0], dtype: t.dtype }]);
    }
  });
  return out;
}

/** W_q = dequant(quant(W)) of each part of `weight` ([out, in] row-major, rows of `inF`), as a new array. */
function dequantizedParts(weight: Float32Array, inF: number, parts: QuantizedPart[]): Float32Array {
  const out = new Float32Array(weight);
  for (const { from, to, dtype } of parts) {
    const part = weight.subarray(from * inF, to * inF);
    const n = part.length;
    out.set(dtype === 'nf4' ? dequantizeNf4(quantizeNf4(part), n) : dequantizeQ8(quantizeQ8(part, inF), n), from * inF);
  }
  return out;
}

/** [rows, cols] row-major → [cols, rows]. */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/**
 * config.json with its torch_dtype (transformers 4) and dtype (transformers 5) fields, at any
 * depth, set to `torchDtype`; the file's other bytes unchanged. A config with neither gets a
 * top-level torch_dtype.
 */
export function configWithDtype(bytes: Uint8Array, torchDtype: string): Uint8Array {
  const text = new TextDecoder().decode(bytes);
  let found = false;
  const set = text.replace(/("(?:torch_dtype|dtype)"\s*:\s*)(?:"[^"\\]*"|null)/g, (_, key: string) => {
    found = true;
    return `${key}${JSON.stringify(torchDtype)}`;
  });
  if (found) return new TextEncoder().encode(set);
  const json = JSON.parse(text) as Record<string, unknown>;
  return new TextEncoder().encode(`${JSON.stringify({ ...json, torch_dtype: torchDtype }, null, 2)}\n`);
}

interface CheckpointTensor {
  header: SafetensorsHeader;
  info: TensorInfo;
}

/** Every tensor of model.safetensors, or of the shards model.safetensors.index.json lists. */
export async function listCheckpoint(source: ModelSource): Promise<Map<string, CheckpointTensor>> {
  const all = new Map<string, CheckpointTensor>();
  const add = (header: SafetensorsHeader) => {
    for (const info of header.tensors.values()) {
      const seen = all.get(info.name);
      if (seen) throw new Error(`${source.description}: tensor '${info.name}' is in both ${seen.header.file} and ${header.file}`);
      all.set(info.name, { header, info });
    }
  };
  if (await source.exists('model.safetensors')) {
    add(await readSafetensorsHeader(source, 'model.safetensors'));
    return all;
  }
  const indexFile = 'model.safetensors.index.json';
  const index = await readJsonIfExists<{ weight_map?: unknown }>(source, indexFile);
  if (index === null) throw new Error(`${source.description} has neither model.safetensors nor ${indexFile} (only safetensors weights are supported)`);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || !Object.values(map).every((f) => typeof f === 'string')) {
    throw new Error(`${source.description}/${indexFile}: weight_map must be an object of tensor name → shard file name`);
  }
  // Every tensor of every shard the index names (a shard's header is the authority on its tensors).
  for (const file of [...new Set(Object.values(map as Record<string, string>))].sort()) add(await readSafetensorsHeader(source, file));
  for (const name of Object.keys(map as Record<string, string>)) {
    if (!all.has(name)) throw new Error(`${source.description}/${indexFile} lists tensor '${name}', but no shard has it`);
  }
  return all;
}

/** The checkpoint's name of a module's weight: with the model./transformer. prefix or without it (../model/weights.ts checkpointNames). */
function weightName(tensors: Map<string, CheckpointTensor>, spec: ModelSpec, m: LoraModule, where: string): string {
  const names = checkpointNames(spec, `${m.path}.weight`);
  const found = names.find((n) => tensors.has(n));
  if (found !== undefined) return found;
  const others = names.slice(1).map((n) => `'${n}'`).join(' or ');
  throw new Error(`${where}: tensor '${names[0]}'${others ? ` (or ${others})` : ''}, the weight of LoRA module '${m.path}', is missing`);
}

/**
 * A complete model folder with the adapter merged in: one model.safetensors (F32, or F16 / BF16
 * as opts.dtype says; metadata {"format": "pt"}) holding every tensor of the base checkpoint under
 * its original name, the targeted weights merged (on the dequantized projections of a quantized
 * base, opts.weights), and no lm_head.weight when the model ties it to the embedding; plus the
 * config (its torch_dtype / dtype set to the written dtype), generation config and tokenizer files
 * copied. Everything is held in memory. Integer tensors (rare buffers) are written as I32, the
 * only integer dtype the writer has.
 */
export async function mergedModelFiles(source: ModelSource, spec: ModelSpec, adapter: LoraAdapter, opts: MergeOptions = {}): Promise<Record<string, Uint8Array>> {
  const weights = opts.weights ?? 'f32';
  const dtype = opts.dtype ?? 'f32';
  if (!MERGE_BASES.includes(weights)) throw new Error(`mergedModelFiles: weights must be ${MERGE_BASES.join(', ')}, not '${String(weights)}'`);
  if (!MERGE_DTYPES.includes(dtype)) throw new Error(`mergedModelFiles: dtype must be ${MERGE_DTYPES.join(', ')}, not '${String(dtype)}'`);
  checkAdapterWeights(adapter, 'mergedModelFiles');
  checkAdapterFinite(adapter, 'mergedModelFiles');
  if (!(await source.exists('config.json'))) throw new Error(`${source.description}/config.json is missing; the merged folder needs the base model's config.json`);
  const tensors = await listCheckpoint(source);
  const where = source.description;
  if (spec.tieWordEmbeddings) {
    tensors.delete('lm_head.weight'); // tied: transformers saves the embedding only
  }
  const conv1D = isConv1D(spec);
  const scale = loraScale(adapter.config);
  const merges = new Map<string, LoraModule>();
  for (const m of adapter.modules) merges.set(weightName(tensors, spec, m, where), m);
  const quantized = quantizedProjections(spec, weights, (name) => tensors.has(name));

  const out: TensorToWrite[] = [];
  let done = 0;
  for (const [name, { header, info }] of tensors) {
    const isFloat = info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16' || info.dtype === 'F64';
    if (!isFloat) {
      out.push({ name, dtype: 'I32', shape: info.shape, data: await readTensorI32(source, header, name) });
    } else {
      let data = await readWeightF32(source, header, name);
      const parts = quantized.get(name);
      if (parts) {
        // The projection as the GPU held it: quantized and dequantized in its [out, in] layout.
        const [outF, inF] = conv1D ? [info.shape[1], info.shape[0]] : [info.shape[0], info.shape[1]];
        if (info.shape.length !== 2 || parts.at(-1)!.to > outF) {
          throw new Error(`${where}/${header.file}: tensor '${name}' has shape [${info.shape.join(', ')}], which does not fit the model's plan of its quantized rows`);
        }
        data = conv1D ? transposed(dequantizedParts(transposed(data, inF, outF), inF, parts), outF, inF) : dequantizedParts(data, inF, parts);
      }
      const m = merges.get(name);
      if (m) {
        const want = conv1D ? [m.inFeatures, m.outFeatures] : [m.outFeatures, m.inFeatures];
        if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
          throw new Error(`${where}/${header.file}: tensor '${name}' has shape [${info.shape.join(', ')}], but LoRA module '${m.path}' needs [${want.join(', ')}]`);
        }
        const { A, B } = adapter.weights.get(m.path)!;
        data = mergeIntoTensor(data, info.shape, A, B, scale, conv1D);
      }
      out.push({ name, dtype: SAFETENSORS_DTYPE[dtype], shape: info.shape, data });
    }
    opts.onTensor?.(name, ++done, tensors.size);
  }
  const files: Record<string, Uint8Array> = { 'model.safetensors': writeSafetensors(out, { format: 'pt' }) };
  for (const file of COPIED_MODEL_FILES) {
    if (!(await source.exists(file))) continue;
    const bytes = await source.read(file);
    files[file] = file === 'config.json' ? configWithDtype(bytes, TORCH_DTYPE[dtype]) : bytes;
  }
  return files;
}
