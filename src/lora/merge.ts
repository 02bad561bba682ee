// Merging an adapter into its base model: W' = W + s·B·A for every wrapped module (PEFT's
// merge_and_unload), written out as a complete Hugging Face model folder that needs no PEFT.
//
// Layouts: A [r, in], B [out, r]; ΔW = s·B·A is [out, in]. An nn.Linear weight is [out, in] and gets
// ΔW added as is; a GPT-2 Conv1D weight is [in, out] and gets ΔWᵀ (PEFT's fan_in_fan_out). The
// arithmetic follows PEFT's in float32: ΔW = fp32(fp32(B·A)·s), then W + ΔW rounded to fp32, with
// the r-term dot products summed in float64 (r is small; the rounding of each sum is PEFT's).
import type { ModelSpec } from '../model/config.js';
import { readSafetensorsHeader, readTensorF32, readTensorI32, writeSafetensors, type SafetensorsHeader, type TensorInfo, type TensorToWrite } from '../model/safetensors.js';
import { readJsonIfExists, type ModelSource } from '../model/source.js';
import { isConv1D, modelPrefix } from '../model/weights.js';
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

export interface MergeOptions {
  /** Called after each tensor is written: its name and the count done out of the total. */
  onTensor?: (name: string, done: number, total: number) => void;
}

interface CheckpointTensor {
  header: SafetensorsHeader;
  info: TensorInfo;
}

/** Every tensor of model.safetensors, or of the shards model.safetensors.index.json lists. */
async function listCheckpoint(source: ModelSource): Promise<Map<string, CheckpointTensor>> {
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

/** The checkpoint's name of a module's weight: with the model./transformer. prefix or without it. */
function weightName(tensors: Map<string, CheckpointTensor>, spec: ModelSpec, m: LoraModule, where: string): string {
  const full = `${m.path}.weight`;
  if (tensors.has(full)) return full;
  const prefix = modelPrefix(spec);
  const short = full.startsWith(prefix) ? full.slice(prefix.length) : null;
  if (short !== null && tensors.has(short)) return short;
  throw new Error(`${where}: tensor '${full}'${short ? ` (or '${short}')` : ''}, the weight of LoRA module '${m.path}', is missing`);
}

/**
 * A complete model folder with the adapter merged in: one model.safetensors (F32, metadata
 * {"format": "pt"}) holding every tensor of the base checkpoint under its original name, the
 * targeted weights merged, and no lm_head.weight when the model ties it to the embedding; plus the
 * config, generation config and tokenizer files copied unchanged. Everything is held in memory.
 * Integer tensors (rare buffers) are written as I32, the only integer dtype the writer has.
 */
export async function mergedModelFiles(source: ModelSource, spec: ModelSpec, adapter: LoraAdapter, opts: MergeOptions = {}): Promise<Record<string, Uint8Array>> {
  checkAdapterWeights(adapter, 'mergedModelFiles');
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

  const out: TensorToWrite[] = [];
  let done = 0;
  for (const [name, { header, info }] of tensors) {
    const isFloat = info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16' || info.dtype === 'F64';
    if (!isFloat) {
      out.push({ name, dtype: 'I32', shape: info.shape, data: await readTensorI32(source, header, name) });
    } else {
      let data = await readTensorF32(source, header, name);
      const m = merges.get(name);
      if (m) {
        const want = conv1D ? [m.inFeatures, m.outFeatures] : [m.outFeatures, m.inFeatures];
        if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
          throw new Error(`${where}/${header.file}: tensor '${name}' has shape [${info.shape.join(', ')}], but LoRA module '${m.path}' needs [${want.join(', ')}]`);
        }
        const { A, B } = adapter.weights.get(m.path)!;
        data = mergeIntoTensor(data, info.shape, A, B, scale, conv1D);
      }
      out.push({ name, dtype: 'F32', shape: info.shape, data });
    }
    opts.onTensor?.(name, ++done, tensors.size);
  }
  const files: Record<string, Uint8Array> = { 'model.safetensors': writeSafetensors(out, { format: 'pt' }) };
  for (const file of COPIED_MODEL_FILES) {
    if (await source.exists(file)) files[file] = await source.read(file);
  }
  return files;
}
