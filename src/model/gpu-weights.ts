// The frozen weights of a model, uploaded to GPU tensors once. Shapes follow ./weights.ts
// (nn.Linear [out, in] everywhere; GPT-2's Conv1D weights were transposed on load).
import type { GpuContext } from '../gpu/device.js';
import { createTensor, type Tensor } from '../gpu/tensor.js';
import type { CpuTensor, LayerWeights, ModelWeights } from './weights.js';

/** The same fields as LayerWeights (optional ones stay optional), as GPU tensors. */
export type GpuLayerWeights = { [K in keyof LayerWeights]: Tensor<'f32'> };

export interface GpuModelWeights {
  embed: Tensor<'f32'>; // [V, C]
  positions?: Tensor<'f32'>; // [P, C] (GPT-2)
  layers: GpuLayerWeights[];
  finalNorm: Tensor<'f32'>; // [C]
  finalNormBias?: Tensor<'f32'>; // [C] (GPT-2)
  lmHead: Tensor<'f32'>; // [V, C]; the embedding itself when tied
}

/** Upload every weight; the CPU copies can be dropped afterwards. */
export function uploadWeights(ctx: GpuContext, w: ModelWeights): GpuModelWeights {
  const up = (t: CpuTensor, label: string) => createTensor(ctx, t.shape, 'f32', t.data, label);
  const maybe = (t: CpuTensor | undefined, label: string) => (t ? up(t, label) : undefined);
  const embed = up(w.embed, 'embed');
  const layers = w.layers.map((layer, i) => {
    const out: Record<string, Tensor<'f32'> | undefined> = {};
    for (const [name, t] of Object.entries(layer) as Array<[string, CpuTensor | undefined]>) {
      out[name] = maybe(t, `layers.${i}.${name}`);
    }
    return out as GpuLayerWeights;
  });
  return {
    embed,
    positions: maybe(w.positions, 'positions'),
    layers,
    finalNorm: up(w.finalNorm, 'finalNorm'),
    finalNormBias: maybe(w.finalNormBias, 'finalNormBias'),
    lmHead: w.lmHead ? up(w.lmHead, 'lmHead') : embed,
  };
}

export function destroyWeights(w: GpuModelWeights): void {
  const all = new Set<Tensor>([w.embed, w.finalNorm, w.lmHead]);
  if (w.positions) all.add(w.positions);
  if (w.finalNormBias) all.add(w.finalNormBias);
  for (const layer of w.layers) for (const t of Object.values(layer)) if (t) all.add(t as Tensor);
  for (const t of all) t.destroy();
}
