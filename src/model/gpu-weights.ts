// The frozen weights of a model, uploaded to GPU tensors once. Shapes follow ./weights.ts
// (nn.Linear [out, in] everywhere; GPT-2's Conv1D weights were transposed on load).
//
// Storage: 'f32' keeps every weight as loaded. 'f16' stores the large matrices (the seven
// projections of every layer, the embedding, an untied LM head and GPT-2's position table) as
// f16, two halves per 32-bit word, which halves their memory; the kernels that read them
// (matmul forward/backward, embedding) widen each value to f32 and compute in f32, so the results
// are those of the f32 model with these weights rounded to f16. Norm weights and biases stay f32.
// 'nf4' and 'q8' quantize the seven projections of every layer (GPT-2's c_attn, c_proj and c_fc
// as the [out, in] matrices the loader transposed them to) by ../gpu/quant's rules (NF4 in blocks
// of 64 of the flattened matrix; Q8_0 in blocks of 32 along rows), and store the embedding, an
// untied LM head and GPT-2's positions as f16; the matmuls dequantize as they read. Q8_0 needs
// rows (K, a matrix's last dimension) a multiple of 32 long: a projection whose K is not stays in
// the other matrices' format (f16), as llama.cpp leaves such a weight unquantized. A storage
// descriptor {projections, others} says the two formats separately: 'nf4' is {projections: 'nf4',
// others: 'f16'}; the golden cases (../train/golden.ts) use {projections: 'nf4', others: 'f32'},
// their references keeping the embeddings and head float32. (GPT-2's c_attn is quantized as its
// q, k and v parts; NF4's blocks of the whole [3C, C] matrix are the same as long as C·C is a
// multiple of 64.)
//
// The embedding and an untied LM head larger than the device's binding limit are stored as
// blocks of vocabulary rows, each its own buffer (./vocab-blocks.ts): `embed` and `lmHead` are
// the blocks, one where the matrix fits a binding.
//
// What goes on the GPU is planned first, from the spec alone (planWeights): every tensor's label,
// shape and element type, the RoPE tables included. uploadWeights allocates exactly the planned
// weights, checking each loaded tensor against its plan, LanguageModel.load (./model.ts) the planned
// RoPE tables, and the memory estimate (../train/memory.ts) sums the plan's bytes: one source of
// these sizes, as ./train-buffer-plan.ts is for the training buffers.
// Dimension letters as in ./config.ts; P = maxPositions.
import type { GpuContext } from '../gpu/device.js';
import { quantizeNf4 } from '../gpu/quant/nf4.js';
import { quantizeQ8 } from '../gpu/quant/q8.js';
import { BLOCK_LAYOUT, isQuantDType, quantWords } from '../gpu/quant/layout.js';
import { createTensor, type Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import type { BufferSpec, Planned } from './train-buffer-plan.js';
import { bindingLimit, vocabBlockRows, wholeShape, withFirstRows } from './vocab-blocks.js';
import type { ModelSource } from './source.js';
import { streamWeights, tensorFloats, type CpuTensor, type LayerWeights, type LayerWeightsOf, type LoadedTensor, type ModelWeights, type ModelWeightsOf } from './weights.js';

/** How the large frozen matrices are stored on the GPU (the user-facing names; see the header). */
export type WeightStorage = 'f32' | 'f16' | 'nf4' | 'q8';

/** The storage formats of frozen weights: floats, or blocks quantized by ../gpu/quant. */
export type WeightFormat = WeightStorage;

/**
 * The two formats of a storage separately: the layers' seven projections, and the other matrices
 * (the embedding, an untied LM head, GPT-2's positions; also a q8 projection whose rows are not a
 * multiple of 32 long). Norms and biases are f32 either way.
 */
export interface WeightStorageSpec {
  projections: WeightFormat;
  others: 'f32' | 'f16';
}

/** A storage as LanguageModel.load and planWeights take it: a name, or the two formats. */
export type WeightStorageOption = WeightStorage | WeightStorageSpec;

const STORAGES: readonly WeightStorage[] = ['f32', 'f16', 'nf4', 'q8'];

/** `value` as a WeightStorage; throws a message naming the option otherwise (an option from a page or a file). */
export function assertWeightStorage(value: unknown): WeightStorage {
  if (!STORAGES.includes(value as WeightStorage)) throw new Error(`weightStorage must be 'f32', 'f16', 'nf4' or 'q8', not '${String(value)}'`);
  return value as WeightStorage;
}

/** `value` as a storage name or a {projections, others} descriptor; throws naming what is wrong. */
export function assertWeightStorageOption(value: unknown): WeightStorageOption {
  if (typeof value !== 'object' || value === null) return assertWeightStorage(value);
  const { projections, others } = value as Record<string, unknown>;
  if (!STORAGES.includes(projections as WeightStorage)) throw new Error(`weightStorage.projections must be 'f32', 'f16', 'nf4' or 'q8', not '${String(projections)}'`);
  if (others !== 'f32' && others !== 'f16') throw new Error(`weightStorage.others must be 'f32' or 'f16', not '${String(others)}'`);
  return { projections: projections as WeightFormat, others };
}

/** The two formats of a storage: 'f32' and 'f16' are that format for both; 'nf4' and 'q8' keep the others f16. */
export function weightStorageSpec(storage: WeightStorageOption): WeightStorageSpec {
  const s = assertWeightStorageOption(storage);
  if (typeof s === 'object') return s;
  return { projections: s, others: s === 'f32' ? 'f32' : 'f16' };
}

/** A frozen weight as the kernels read it: f32, f16, or quantized where the storage says so. */
export type WeightTensor = Tensor<WeightFormat>;

/** The layer fields stored in the projections' format: the seven projections. */
export const PROJECTION_FIELDS: ReadonlySet<string> = new Set(['q', 'k', 'v', 'o', 'gate', 'up', 'down']);

/** The layer fields stored as f16 under 'f16' storage: the projections (PROJECTION_FIELDS). */
export const F16_LAYER_FIELDS: ReadonlySet<string> = PROJECTION_FIELDS;

/** The same fields as LayerWeights (optional ones stay optional), as GPU tensors. */
export type GpuLayerWeights = { [K in keyof LayerWeights]: WeightTensor };

export interface GpuModelWeights {
  /** How the matrices below are stored, as given to planWeights (norms and biases are f32 either way). */
  storage: WeightStorageOption;
  embed: WeightTensor[]; // [V, C] as blocks of rows [V_b, C] (one unless V·C exceeds a binding; ./vocab-blocks.ts)
  positions?: WeightTensor; // [P, C] (GPT-2)
  layers: GpuLayerWeights[];
  finalNorm: Tensor<'f32'>; // [C]
  finalNormBias?: Tensor<'f32'>; // [C] (GPT-2)
  lmHead: WeightTensor[]; // [V, C] as blocks of rows, like embed; the embedding's blocks themselves when tied
}

/**
 * The plan of every tensor a model puts on the GPU: GpuModelWeights's fields, each tensor replaced
 * by its BufferSpec (named with its GPU label), with lmHead only when the head is untied (a tied
 * head is the embedding's buffer), and the RoPE tables ropeCos and ropeSin [R·P, HS/2] of the
 * llama-family models, one [P, HS/2] block for each of the R distinct RoPEs of spec.ropes (Gemma 3
 * has two: its sliding and its full layers'; GPT-2 has learned positions instead, and none).
 * Fields that a model lacks are absent.
 */
export type WeightPlan = Omit<Planned<GpuModelWeights>, 'lmHead'> & {
  lmHead?: BufferSpec<WeightFormat>[]; // [V, C] as blocks of rows, untied heads only
  ropeCos?: BufferSpec<'f32'>; // [R·P, HS/2]
  ropeSin?: BufferSpec<'f32'>; // [R·P, HS/2]
};

/** The plan of one layer's weights (LayerWeights' fields that the spec has). */
export type LayerWeightPlan = Planned<GpuLayerWeights>;

/**
 * Every tensor the model `spec` puts on the GPU, with its matrices stored as `storage` (see
 * WeightPlan and the header: a q8 projection whose rows are not a multiple of 32 long is planned
 * in the others' format), the embedding and an untied head in blocks of rows of at most
 * maxBindingBytes each (vocabBlockRows; one block each by default).
 */
export function planWeights(spec: ModelSpec, storage: WeightStorageOption = 'f32', maxBindingBytes = Infinity): WeightPlan {
  const given = assertWeightStorageOption(storage);
  const { projections, others } = weightStorageSpec(given); // the matrices' dtypes; everything else is f32
  const { V, C, NH, KV, HS, F, L, maxPositions: P } = spec;
  const gpt2 = spec.arch === 'gpt2';
  const R = spec.ropes.length; // RoPE tables: one [P, HS/2] block per distinct RoPE of the layers
  const f32 = (name: string, shape: number[]): BufferSpec<'f32'> => ({ name, shape, dtype: 'f32' });
  const mat = (name: string, shape: number[]): BufferSpec<WeightFormat> => ({ name, shape, dtype: others });
  // A vocabulary matrix [V, C]: 'embed' whole, or blocks 'embed.0', 'embed.1', ... of rows.
  const vocab = (name: string): BufferSpec<WeightFormat>[] => {
    const rows = vocabBlockRows(name, V, C, others, maxBindingBytes);
    return rows.map((n, i) => mat(rows.length === 1 ? name : `${name}.${i}`, [n, C]));
  };
  // A projection [N, K]: Q8_0 only where K is a multiple of its block (32); else the others' format.
  const proj = (name: string, shape: number[]): BufferSpec<WeightFormat> => {
    const q8Unfit = projections === 'q8' && (shape.at(-1) ?? 1) % BLOCK_LAYOUT.q8.elements !== 0;
    return { name, shape, dtype: q8Unfit ? others : projections };
  };
  const layer = (i: number): LayerWeightPlan => {
    const at = `layers.${i}.`;
    const out: Partial<Record<keyof LayerWeights, BufferSpec<WeightFormat>>> = {};
    const add = (field: keyof LayerWeights, shape: number[], when = true) => {
      if (when) out[field] = PROJECTION_FIELDS.has(field) ? proj(at + field, shape) : f32(at + field, shape);
    };
    add('attnNorm', [C]);
    add('attnNormBias', [C], gpt2); // LayerNorm's bias
    add('q', [NH * HS, C]);
    add('k', [KV * HS, C]);
    add('v', [KV * HS, C]);
    add('qBias', [NH * HS], spec.qkvBias);
    add('kBias', [KV * HS], spec.qkvBias);
    add('vBias', [KV * HS], spec.qkvBias);
    add('o', [C, NH * HS]);
    add('oBias', [C], spec.oBias);
    add('qNorm', [HS], spec.qkNorm);
    add('kNorm', [HS], spec.qkNorm);
    add('postAttnNorm', [C], spec.postNorms);
    add('mlpNorm', [C]);
    add('mlpNormBias', [C], gpt2);
    add('postMlpNorm', [C], spec.postNorms);
    add('gate', [F, C], !gpt2); // GPT-2's MLP is ungated
    add('gateBias', [F], !gpt2 && spec.mlpBias);
    add('up', [F, C]);
    add('upBias', [F], spec.mlpBias);
    add('down', [C, F]);
    add('downBias', [C], spec.mlpBias);
    return out as LayerWeightPlan;
  };
  return {
    storage: given,
    embed: vocab('embed'),
    ...(gpt2 ? { positions: mat('positions', [P, C]) } : {}),
    layers: Array.from({ length: L }, (_, i) => layer(i)),
    finalNorm: f32('finalNorm', [C]),
    ...(gpt2 ? { finalNormBias: f32('finalNormBias', [C]) } : {}),
    ...(spec.tieWordEmbeddings ? {} : { lmHead: vocab('lmHead') }),
    ...(R > 0 ? { ropeCos: f32('ropeCos', [R * P, HS / 2]), ropeSin: f32('ropeSin', [R * P, HS / 2]) } : {}),
  };
}

/**
 * A planned tensor allocated with its label, shape and type, holding `data` (f32 values; an nf4 or
 * q8 tensor is quantized here, by quantizeNf4 / quantizeQ8, rows of the plan's last dimension).
 */
export function createPlanned<D extends WeightFormat>(ctx: GpuContext, t: BufferSpec<D>, data: Float32Array): Tensor<D> {
  if (t.dtype === 'f16') checkF16Range(t.name, data);
  if (!isQuantDType(t.dtype)) return createTensor(ctx, t.shape, t.dtype, data, t.name);
  const words = t.dtype === 'nf4' ? quantizeNf4(data) : quantizeQ8(data, t.shape.at(-1) ?? 1);
  return createTensor(ctx, t.shape, t.dtype, words, t.name);
}

/**
 * Throws, naming the tensor and the first such element, where `data` has a value that f16 storage
 * would turn into ±inf: |x| ≥ 65520 rounds past 65504, the largest half (or a NaN, which the
 * loader refuses before this). A finite weight must not become an inf that the model then
 * computes with. One pass, beside the packing into halves that follows it.
 */
function checkF16Range(name: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!(Math.abs(data[i]) < 65520)) {
      throw new Error(`uploadWeights: tensor '${name}' has ${data[i]} at element ${i}, beyond float16's range (±65504): stored as f16 it would be inf; load the model with weightStorage 'f32'`);
    }
  }
}

/**
 * Puts weights on the GPU one tensor at a time, as planWeights planned them: each tensor is checked
 * against its plan (present in it, of its shape), uploaded (quantized or rounded to f16 where the
 * plan says; a vocabulary matrix cut into its blocks of rows), and its CPU copy can go. What was
 * uploaded is destroyed if a later tensor fails.
 */
class WeightUploader {
  private readonly planned = new Map<string, BufferSpec<WeightFormat>[]>();
  private readonly done = new Set<string>();
  private readonly made: Tensor[] = [];

  constructor(
    private readonly ctx: GpuContext,
    readonly plan: WeightPlan,
  ) {
    const add = (field: string, blocks: BufferSpec<WeightFormat>[]) => this.planned.set(field, blocks);
    add('embed', plan.embed);
    if (plan.positions) add('positions', [plan.positions]);
    plan.layers.forEach((layer, i) => {
      for (const [field, t] of Object.entries(layer)) add(`layers.${i}.${field}`, [t]);
    });
    add('finalNorm', [plan.finalNorm]);
    if (plan.finalNormBias) add('finalNormBias', [plan.finalNormBias]);
    if (plan.lmHead) add('lmHead', plan.lmHead);
  }

  /** Throws unless `field` is planned with this shape (the whole [V, C] of a vocabulary matrix). */
  check(field: string, shape: readonly number[]): void {
    const blocks = this.planned.get(field);
    if (!blocks) throw new Error(`uploadWeights: the weights have a tensor '${field}' [${shape.join(', ')}] that the model's plan (its config) does not`);
    const want = wholeShape(blocks);
    if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
      throw new Error(`uploadWeights: tensor '${field}' has shape [${shape.join(', ')}], but the plan (from the config) has [${want.join(', ')}]`);
    }
  }

  /**
   * The tensor of `field` on the GPU: its blocks (one but for a split vocabulary matrix). An
   * Nf4CpuTensor (a bnb checkpoint's projection) is uploaded as its words where the plan says
   * nf4, and dequantized to f32 first (then stored as planned) otherwise.
   */
  put(field: string, loaded: LoadedTensor): WeightTensor[] {
    this.check(field, loaded.shape);
    if (this.done.has(field)) throw new Error(`uploadWeights: tensor '${field}' given twice`);
    const blocks = this.planned.get(field)!;
    if ('nf4' in loaded && blocks.length === 1 && blocks[0].dtype === 'nf4') {
      const block = blocks[0];
      const words = quantWords('nf4', block.shape.reduce((a, b) => a * b, 1));
      if (loaded.nf4.length !== words) throw new Error(`uploadWeights: nf4 tensor '${field}' [${loaded.shape.join(', ')}] has ${loaded.nf4.length} words, expected ${words}`);
      const made = createTensor(this.ctx, block.shape, 'nf4', loaded.nf4, block.name);
      this.made.push(made);
      this.done.add(field);
      return [made];
    }
    const t = tensorFloats(loaded);
    const C = t.shape.at(-1) ?? 1;
    const out = withFirstRows(blocks).map(({ block, row0, rows }) => {
      const data = blocks.length === 1 ? t.data : t.data.subarray(row0 * C, (row0 + rows) * C);
      const made = createPlanned(this.ctx, block, data);
      this.made.push(made);
      return made;
    });
    this.done.add(field);
    return out;
  }

  /** Throws unless every planned tensor is among `given` (by default, those put), naming the first one missing. */
  checkComplete(given: ReadonlySet<string> = this.done): void {
    for (const [field, blocks] of this.planned) {
      if (!given.has(field)) {
        const shape = wholeShape(blocks);
        throw new Error(`uploadWeights: tensor '${field}' [${shape.join(', ')}] is planned but missing from the weights`);
      }
    }
  }

  destroyAll(): void {
    for (const t of this.made) t.destroy();
  }

  /** GpuModelWeights from what put returned, laid out as the weights were. */
  assemble(w: ModelWeightsOf<WeightTensor[]>): GpuModelWeights {
    const one = (blocks: WeightTensor[]) => blocks[0];
    return {
      storage: this.plan.storage,
      embed: w.embed,
      positions: w.positions && one(w.positions),
      layers: w.layers.map((layer) => Object.fromEntries(Object.entries(layer).map(([field, blocks]) => [field, one(blocks as WeightTensor[])])) as GpuLayerWeights),
      finalNorm: one(w.finalNorm) as Tensor<'f32'>,
      finalNormBias: w.finalNormBias && (one(w.finalNormBias) as Tensor<'f32'>),
      lmHead: w.lmHead ?? w.embed,
    };
  }

}

/**
 * Read every weight of `spec`'s model from `source` and upload it as planWeights(spec, storage)
 * plans it for this device (not the RoPE tables: LanguageModel.load computes those), one tensor at
 * a time as the file streams in: no more than one tensor is held in f32 on the CPU at once (see
 * ./weights.ts streamWeights). On a failure nothing stays allocated.
 */
export async function streamWeightsToGpu(
  ctx: GpuContext,
  source: ModelSource,
  spec: ModelSpec,
  storage: WeightStorageOption = 'f32',
  onTensor?: (name: string, done: number, total: number) => void,
): Promise<GpuModelWeights> {
  const uploader = new WeightUploader(ctx, planWeights(spec, storage, bindingLimit(ctx)));
  try {
    const w = await streamWeights(source, spec, (field, t) => uploader.put(field, t), onTensor);
    uploader.checkComplete();
    return uploader.assemble(w);
  } catch (e) {
    uploader.destroyAll();
    throw e;
  }
}

/**
 * Upload CPU weights `w` of `spec`'s model as planWeights(spec, storage) plans them for this device
 * (not the RoPE tables). Every tensor is checked against the plan before anything is allocated.
 */
export function uploadWeights(ctx: GpuContext, spec: ModelSpec, w: ModelWeights, storage: WeightStorageOption = 'f32'): GpuModelWeights {
  const uploader = new WeightUploader(ctx, planWeights(spec, storage, bindingLimit(ctx)));
  if (w.layers.length !== uploader.plan.layers.length) throw new Error(`uploadWeights: the weights have ${w.layers.length} layers, the plan ${uploader.plan.layers.length}`);
  const fields = weightFields(w);
  for (const [field, t] of fields) uploader.check(field, t.shape);
  uploader.checkComplete(new Set(fields.map(([field]) => field)));
  const put = (field: string, t: CpuTensor) => uploader.put(field, t);
  try {
    const layers = w.layers.map((layer, i) => Object.fromEntries(Object.entries(layer).map(([field, t]) => [field, put(`layers.${i}.${field}`, t as CpuTensor)])) as LayerWeightsOf<WeightTensor[]>);
    const out: ModelWeightsOf<WeightTensor[]> = { embed: put('embed', w.embed), layers, finalNorm: put('finalNorm', w.finalNorm) };
    if (w.positions) out.positions = put('positions', w.positions);
    if (w.finalNormBias) out.finalNormBias = put('finalNormBias', w.finalNormBias);
    if (w.lmHead) out.lmHead = put('lmHead', w.lmHead);
    return uploader.assemble(out);
  } catch (e) {
    uploader.destroyAll();
    throw e;
  }
}

/** Every tensor of CPU weights with its field name (as streamWeights names them). */
function weightFields(w: ModelWeights): Array<[string, CpuTensor]> {
  const out: Array<[string, CpuTensor]> = [['embed', w.embed]];
  if (w.positions) out.push(['positions', w.positions]);
  w.layers.forEach((layer, i) => {
    for (const [field, t] of Object.entries(layer)) out.push([`layers.${i}.${field}`, t as CpuTensor]);
  });
  out.push(['finalNorm', w.finalNorm]);
  if (w.finalNormBias) out.push(['finalNormBias', w.finalNormBias]);
  if (w.lmHead) out.push(['lmHead', w.lmHead]);
  return out;
}

export function destroyWeights(w: GpuModelWeights): void {
  const all = new Set<Tensor>([...w.embed, w.finalNorm, ...w.lmHead]);
  if (w.positions) all.add(w.positions);
  if (w.finalNormBias) all.add(w.finalNormBias);
  for (const layer of w.layers) for (const t of Object.values(layer)) if (t) all.add(t as Tensor);
  for (const t of all) t.destroy();
}
