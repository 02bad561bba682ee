// A model folder as a GGUF model file: the base weights, or with a LoRA adapter merged in
// (W' = W + s·B·A by ../../lora/merge.ts mergeIntoTensor, in f32, before any rounding), renamed
// to llama.cpp's tensor names, with the architecture's hyperparameters (./arch.ts) and the
// tokenizer (./vocab.ts) as metadata. Each tensor is read from the checkpoint, converted and
// encoded only when the writer asks for its bytes, so at most one tensor is held at a time.
//
// Per tensor, in this order: read as f32; merge the adapter's module (Conv1D layout for GPT-2);
// GPT-2's Conv1D [in, out] transposed to [out, in]; Gemma's norm weights + 1 (its RMSNorm scales
// by 1 + w, llama.cpp's by w); Llama's q/k rows permuted (./arch.ts permuteHeadRows); encoded as
// the export type (./encode.ts tensorType: 1-D tensors f32, Q8_0 rows not a multiple of 32 f16).
// Llama 3 RoPE scaling adds the tensor rope_freqs.weight (./arch.ts ropeFreqFactors).
// A row-major [out, in] matrix has GGUF dimensions [in, out].
import { mergeIntoTensor, listCheckpoint } from '../../lora/merge.js';
import { loraScale } from '../../lora/config.js';
import { checkAdapterWeights, type LoraAdapter } from '../../lora/adapter.js';
import type { ModelSpec } from '../../model/config.js';
import { checkpointNames, globalModuleName, isConv1D, layerModuleName, type LayerModule } from '../../model/hf-names.js';
import { readWeightF32 } from '../../model/safetensors.js';
import type { ModelSource } from '../../model/source.js';
import type { TextTokenizer } from '../../tokenize/tokenizer.js';
import { archKvs, GLOBAL_PART, layerTensorBase, permutedHeads, permuteHeadRows, ropeFreqFactors } from './arch.js';
import { encodeTensor, tensorType } from './encode.js';
import { GGUF_FILE_TYPE, type GgmlTypeName } from './format.js';
import { tokenizerKvs } from './vocab.js';
import { kv, type GgufKv, type GgufTensor } from './writer.js';

const LAYER_MODULES: LayerModule[] = ['attnNorm', 'q', 'k', 'v', 'o', 'qNorm', 'kNorm', 'postAttnNorm', 'mlpNorm', 'postMlpNorm', 'gate', 'up', 'down'];
const NORMS = new Set<string>(['attnNorm', 'qNorm', 'kNorm', 'postAttnNorm', 'mlpNorm', 'postMlpNorm', 'finalNorm']);

/** Whether the spec says a layer module has a weight (so that its absence is an error). */
function required(spec: ModelSpec, m: LayerModule): boolean {
  if (m === 'qNorm' || m === 'kNorm') return spec.qkNorm;
  if (m === 'postAttnNorm' || m === 'postMlpNorm') return spec.postNorms;
  if (m === 'gate') return spec.arch !== 'gpt2';
  return true;
}

/** [rows, cols] row-major → [cols, rows]. */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

export interface ModelGgufOptions {
  /** The type of the matrices (default f32); 1-D tensors are always f32. */
  type?: GgmlTypeName;
  /** An adapter to merge into the weights. */
  adapter?: LoraAdapter;
  /** general.name (default: the last component of the source's path or URL). */
  name?: string;
  /** The folder's tokenizer, if already loaded (else loaded here when the folder has tokenizer.json). */
  tokenizer?: TextTokenizer;
}

/** What one GGUF tensor is made from: a checkpoint tensor and the steps of the header. */
interface Source {
  gguf: string;
  hf: string;
  module: LayerModule | 'embed' | 'positions' | 'finalNorm' | 'lmHead';
  layer: number | null;
}

/** The key/values and the lazily produced tensors of the model's GGUF file (see the header). */
export async function modelGguf(source: ModelSource, spec: ModelSpec, opts: ModelGgufOptions = {}): Promise<{ kvs: GgufKv[]; tensors: GgufTensor[] }> {
  const type = opts.type ?? 'f32';
  const where = source.description;
  if (spec.quantization) throw new Error(`${where}: a bitsandbytes-quantized checkpoint cannot be exported to GGUF; export the float model`);
  const kvs: GgufKv[] = [
    ...archKvs(spec),
    kv.str('general.type', 'model'),
    kv.str('general.name', opts.name ?? (where.split(/[\\/]/).filter(Boolean).pop() || where)),
    kv.u32('general.file_type', GGUF_FILE_TYPE[type]),
    kv.u32('general.quantization_version', 2),
    ...(await tokenizerKvs(source, spec, opts.tokenizer)),
  ];
  const checkpoint = await listCheckpoint(source);
  const find = (canonical: string) => checkpointNames(spec, canonical).find((n) => checkpoint.has(n));

  const plan: Source[] = [];
  const add = (gguf: string, canonical: string, module: Source['module'], layer: number | null, mustExist: boolean) => {
    const hf = find(canonical);
    if (hf === undefined) {
      if (mustExist) throw new Error(`${where}: tensor '${canonical}' (GGUF '${gguf}') is missing from the checkpoint`);
      return;
    }
    plan.push({ gguf, hf, module, layer });
  };
  add(`${GLOBAL_PART.embed}.weight`, `${globalModuleName(spec, 'embed')}.weight`, 'embed', null, true);
  if (spec.arch === 'gpt2') add(`${GLOBAL_PART.positions}.weight`, `${globalModuleName(spec, 'positions')}.weight`, 'positions', null, true);
  for (let l = 0; l < spec.L; l++) {
    const seen = new Set<string>();
    for (const m of LAYER_MODULES) {
      const path = layerModuleName(spec, l, m);
      if (path === null || seen.has(path)) continue; // GPT-2's q, k and v are one c_attn
      seen.add(path);
      const base = layerTensorBase(spec, l, m);
      add(`${base}.weight`, `${path}.weight`, m, l, required(spec, m));
      add(`${base}.bias`, `${path}.bias`, m, l, false);
    }
  }
  const finalNorm = globalModuleName(spec, 'finalNorm')!;
  add(`${GLOBAL_PART.finalNorm}.weight`, `${finalNorm}.weight`, 'finalNorm', null, true);
  add(`${GLOBAL_PART.finalNorm}.bias`, `${finalNorm}.bias`, 'finalNorm', null, false);
  if (!spec.tieWordEmbeddings) add(`${GLOBAL_PART.lmHead}.weight`, `${globalModuleName(spec, 'lmHead')}.weight`, 'lmHead', null, true);

  // The adapter's modules by the checkpoint name of the weight they wrap.
  const merges = new Map<string, { A: Float32Array; B: Float32Array; inF: number; outF: number }>();
  const scale = opts.adapter ? loraScale(opts.adapter.config) : 0;
  if (opts.adapter) {
    checkAdapterWeights(opts.adapter, 'GGUF export');
    for (const m of opts.adapter.modules) {
      const hf = find(`${m.path}.weight`);
      if (hf === undefined) throw new Error(`${where}: the weight of LoRA module '${m.path}' is missing from the checkpoint`);
      merges.set(hf, { ...opts.adapter.weights.get(m.path)!, inF: m.inFeatures, outF: m.outFeatures });
    }
  }
  const conv1D = isConv1D(spec);

  const tensors = plan.map((p): GgufTensor => {
    const { header, info } = checkpoint.get(p.hf)!;
    const matrix = info.shape.length === 2;
    // GPT-2's Conv1D matrices (not its embeddings) are [in, out]; GGUF wants [out, in] rows.
    const conv = conv1D && matrix && p.layer !== null;
    const rowMajor = conv ? [info.shape[1], info.shape[0]] : info.shape;
    const dims = [...rowMajor].reverse();
    const t = tensorType(type, dims);
    return {
      name: p.gguf,
      dims,
      type: t,
      data: async () => {
        let data = await readWeightF32(source, header, p.hf);
        const lora = merges.get(p.hf);
        if (lora) {
          const want = conv ? [lora.inF, lora.outF] : [lora.outF, lora.inF];
          if (!matrix || info.shape[0] !== want[0] || info.shape[1] !== want[1]) throw new Error(`${where}: tensor '${p.hf}' has shape [${info.shape.join(', ')}], but its LoRA module needs [${want.join(', ')}]`);
          data = mergeIntoTensor(data, info.shape, lora.A, lora.B, scale, conv);
        }
        if (conv) data = transposed(data, info.shape[0], info.shape[1]);
        if (spec.normOnePlusWeight && NORMS.has(p.module) && p.gguf.endsWith('.weight')) data = data.map((w) => Math.fround(w + 1));
        const heads = p.layer !== null ? permutedHeads(spec, p.module as LayerModule) : null;
        if (heads !== null) data = permuteHeadRows(data, heads, matrix ? info.shape[1] : 1, p.hf);
        return encodeTensor(data, t, dims[0], p.gguf);
      },
    };
  });
  const factors = ropeFreqFactors(spec);
  if (factors) tensors.push({ name: 'rope_freqs.weight', dims: [factors.length], type: 'f32', data: () => encodeTensor(factors, 'f32', factors.length, 'rope_freqs.weight') });
  return { kvs, tensors };
}
