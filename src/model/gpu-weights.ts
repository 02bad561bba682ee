// The frozen weights of a model, uploaded to GPU tensors once. Shapes follow ./weights.ts
// (nn.Linear [out, in] everywhere; GPT-2's Conv1D weights were transposed on load).
//
// Storage: 'f32' keeps every weight as loaded. 'f16' stores the large matrices (the seven
// projections of every layer, the embedding, an untied LM head and GPT-2's position table) as
// f16, two halves per 32-bit word, which halves their memory; the kernels that read them
// (matmul forward/backward, embedding) widen each value to f32 and compute in f32, so the results
// are those of the f32 model with these weights rounded to f16. Norm weights and biases stay f32.
import type { GpuContext } from '../gpu/device.js';
import { createTensor, type Tensor } from '../gpu/tensor.js';
import type { CpuTensor, LayerWeights, ModelWeights } from './weights.js';

/** How the large frozen matrices are stored on the GPU. */
export type WeightStorage = 'f32' | 'f16';

/** `value` as a WeightStorage; throws a message naming the option otherwise (an option from a page or a file). */
export function assertWeightStorage(value: unknown): WeightStorage {
  if (value !== 'f32' && value !== 'f16') throw new Error(`weightStorage must be 'f32' or 'f16', not '${String(value)}'`);
  return value;
}

/** A frozen weight as the kernels read it: f32, or f16 where the storage says so. */
export type WeightTensor = Tensor<WeightStorage>;

/** The layer fields stored as f16 under 'f16' storage: the projections. */
export const F16_LAYER_FIELDS: ReadonlySet<string> = new Set(['q', 'k', 'v', 'o', 'gate', 'up', 'down']);

/** The same fields as LayerWeights (optional ones stay optional), as GPU tensors. */
export type GpuLayerWeights = { [K in keyof LayerWeights]: WeightTensor };

export interface GpuModelWeights {
  /** How the matrices below are stored (norms and biases are f32 either way). */
  storage: WeightStorage;
  embed: WeightTensor; // [V, C]
  positions?: WeightTensor; // [P, C] (GPT-2)
  layers: GpuLayerWeights[];
  finalNorm: Tensor<'f32'>; // [C]
  finalNormBias?: Tensor<'f32'>; // [C] (GPT-2)
  lmHead: WeightTensor; // [V, C]; the embedding itself when tied
}

/** Upload every weight; the CPU copies can be dropped afterwards. */
export function uploadWeights(ctx: GpuContext, w: ModelWeights, storage: WeightStorage = 'f32'): GpuModelWeights {
  const matrix = assertWeightStorage(storage); // the dtype of the large matrices; everything else is f32
  const up = (t: CpuTensor, label: string, dtype: WeightStorage = 'f32'): WeightTensor => createTensor(ctx, t.shape, dtype, t.data, label);
  const maybe = (t: CpuTensor | undefined, label: string, dtype: WeightStorage = 'f32') => (t ? up(t, label, dtype) : undefined);
  const embed = up(w.embed, 'embed', matrix);
  const layers = w.layers.map((layer, i) => {
    const out: Record<string, WeightTensor | undefined> = {};
    for (const [name, t] of Object.entries(layer) as Array<[string, CpuTensor | undefined]>) {
      out[name] = maybe(t, `layers.${i}.${name}`, F16_LAYER_FIELDS.has(name) ? matrix : 'f32');
    }
    return out as GpuLayerWeights;
  });
  return {
    storage,
    embed,
    positions: maybe(w.positions, 'positions', matrix),
    layers,
    finalNorm: createTensor(ctx, w.finalNorm.shape, 'f32', w.finalNorm.data, 'finalNorm'),
    finalNormBias: w.finalNormBias && createTensor(ctx, w.finalNormBias.shape, 'f32', w.finalNormBias.data, 'finalNormBias'),
    lmHead: w.lmHead ? up(w.lmHead, 'lmHead', matrix) : embed,
  };
}

export function destroyWeights(w: GpuModelWeights): void {
  const all = new Set<Tensor>([w.embed, w.finalNorm, w.lmHead]);
  if (w.positions) all.add(w.positions);
  if (w.finalNormBias) all.add(w.finalNormBias);
  for (const layer of w.layers) for (const t of Object.values(layer)) if (t) all.add(t as Tensor);
  for (const t of all) t.destroy();
}
