// Runs a golden case (the format of ../shared/golden: case.json, the adapter's start point as PEFT
// saved it, expected.safetensors with the batch and PyTorch + PEFT's results) through this engine
// and compares every tensor. Errors are measured relative to each expected tensor's largest
// |element|; logits only where attention_mask is 1.
//
// What is computed, for a case of `steps` AdamW steps on its one batch:
//   logits.base, logits.lora       the base model, and with the adapter at its start point
//   grad.<key>                     d loss / d every lora_A / lora_B at the start point
//   loss.trajectory [steps]        the loss before each step
//   after1.<key>, after<steps>.<key>   the adapter after 1 and after all steps
//   logits.after<steps>, logits.merged_after<steps>   the trained adapter, unmerged and merged
//   merged_after<steps>.safetensors    the merged model's weights (a separate file of the case)
// A case with a `quantization` (../shared/golden-quant) loads the model with its layers'
// projections quantized by that method and everything else float32, as its references were made
// ({projections: method, others: 'f32'}, model/gpu-weights.ts), skips the merge (such cases have
// no merged files), and also computes
//   dequantized.<weight name>      each quantized weight as the GPU holds it, dequantized (float32,
//                                  in the checkpoint's layout: GPT-2's Conv1D [in, out]), compared
//                                  with a relative error of at most 1e-6 (in effect bit for bit)
import type { GpuContext } from '../gpu/device.js';
import { dequantizeNf4 } from '../gpu/quant/nf4.js';
import { dequantizeQ8 } from '../gpu/quant/q8.js';
import { isQuantDType } from '../gpu/quant/layout.js';
import { readTensor, type Tensor } from '../gpu/tensor.js';
import { GpuLora } from '../lora/gpu-lora.js';
import { mergedModelFiles } from '../lora/merge.js';
import { importPeft } from '../lora/peft.js';
import { peftKey } from '../lora/config.js';
import type { LoraAdapter } from '../lora/adapter.js';
import { destroyInferenceState, forward } from '../model/forward.js';
import { PROJECTION_FIELDS, type WeightStorageOption } from '../model/gpu-weights.js';
import { LanguageModel } from '../model/model.js';
import { isConv1D, layerModuleName, type LayerModule } from '../model/weights.js';
import { readSafetensorsHeader, readTensorF32, readTensorI32 } from '../model/safetensors.js';
import { memorySource, readJsonIfExists, type ModelSource } from '../model/source.js';
import { TrainStep } from './step.js';

export interface GoldenResult {
  name: string;
  shape: number[];
  /** max |got − want| / max |want| (for AdamW updates: max |got − want| / lr, per step). */
  error: number;
  tolerance: number;
  /** What `error` is relative to. */
  measure: 'largest' | 'lr·steps';
  pass: boolean;
}

export interface GoldenRun {
  results: GoldenResult[];
  /** Every computed tensor under the name expected.safetensors uses. */
  computed: Map<string, { shape: number[]; data: Float32Array }>;
  missing: string[];
}

interface CaseJson {
  model: string;
  steps: number;
  /** golden-quant: how the layers' projection weights were quantized before PyTorch ran. */
  quantization?: { method: string; block_size: number; quantized: string[]; left_unquantized: string[] };
  optimizer: { name: string; lr: number; betas: [number, number]; eps: number; weight_decay: number };
}

export async function runGoldenCase(ctx: GpuContext, caseSource: ModelSource, modelSource: ModelSource, log: (s: string) => void = () => {}): Promise<GoldenRun> {
  const c = await readJsonIfExists<CaseJson>(caseSource, 'case.json');
  if (!c) throw new Error(`${caseSource.description} has no case.json`);
  if (c.optimizer?.name !== 'AdamW') throw new Error(`${caseSource.description}/case.json: optimizer ${c.optimizer?.name} is not AdamW`);
  const steps = c.steps;
  const model = await LanguageModel.load(ctx, modelSource, undefined, { weightStorage: caseStorage(caseSource.description, c) });
  const start = await importPeft(caseSource, model.spec);
  const header = await readSafetensorsHeader(caseSource, 'expected.safetensors');
  const has = (n: string) => header.tensors.has(n);
  const ids = await readTensorI32(caseSource, header, 'input_ids');
  const mask = await readTensorI32(caseSource, header, 'attention_mask');
  const labels = await readTensorI32(caseSource, header, 'labels');
  const [B, T] = header.tensors.get('input_ids')!.shape;
  const batch = { B, T, ids, labels, attentionMask: mask };
  const V = model.spec.V;

  const computed: GoldenRun['computed'] = new Map();
  const put = (name: string, shape: number[], data: Float32Array) => computed.set(name, { shape, data });
  const logits = async (m: LanguageModel, lora?: GpuLora) => {
    const state = m.createState(B, T, lora);
    const out = await forward(ctx, m.weights, state, ids, T, { mask, allLogits: true, lora });
    destroyInferenceState(state);
    return out;
  };
  const putAdapter = (prefix: string, a: LoraAdapter) => {
    for (const mod of a.modules) {
      const w = a.weights.get(mod.path)!;
      put(`${prefix}.${peftKey(mod, 'A')}`, [a.config.r, mod.inFeatures], w.A);
      put(`${prefix}.${peftKey(mod, 'B')}`, [mod.outFeatures, a.config.r], w.B);
    }
  };

  if (c.quantization) for (const [name, t] of await dequantizedWeights(ctx, model)) put(`dequantized.${name}`, t.shape, t.data);

  log('forward: base and adapter logits');
  put('logits.base', [B, T, V], await logits(model));
  const lora = GpuLora.create(ctx, start);
  put('logits.lora', [B, T, V], await logits(model, lora));

  const { lr, betas, eps, weight_decay } = c.optimizer;
  const trainer = new TrainStep(ctx, model, lora, B, T, { beta1: betas[0], beta2: betas[1], eps, weightDecay: weight_decay, maxGradNorm: null });
  const losses = new Float32Array(steps);
  let after: LoraAdapter = start;
  for (let s = 1; s <= steps; s++) {
    losses[s - 1] = await trainer.gradients([batch]);
    if (s === 1) putAdapter('grad', await lora.download(lora.grads));
    trainer.applyOptimizer(lr);
    if (s === 1 || s === steps) {
      after = await lora.download();
      putAdapter(`after${s}`, after);
    }
    log(`step ${s}: loss ${losses[s - 1].toFixed(6)}`);
  }
  put('loss.trajectory', [steps], losses);
  put(`logits.after${steps}`, [B, T, V], await logits(model, lora));

  let merged: Awaited<ReturnType<typeof mergedModelFiles>> | undefined;
  if (!c.quantization) {
    log('merge');
    merged = await mergedModelFiles(modelSource, model.spec, after);
    const mergedModel = await LanguageModel.load(ctx, memorySource(merged, 'merged'));
    put(`logits.merged_after${steps}`, [B, T, V], await logits(mergedModel));
    mergedModel.destroy();
  }
  trainer.destroy();
  lora.destroy();
  model.destroy();

  // Compare.
  const results: GoldenResult[] = [];
  const missing: string[] = [];
  const isLogits = (n: string) => n.startsWith('logits.');
  for (const [name, got] of computed) {
    if (!has(name)) {
      missing.push(name);
      continue;
    }
    const want = await readTensorF32(caseSource, header, name);
    const afterSteps = /^after(\d+)\./.exec(name);
    if (afterSteps) {
      const k = Number(afterSteps[1]);
      const error = maxAbsDiff(got.data, want) / (lr * k);
      results.push({ name, shape: got.shape, error, tolerance: 1e-3, measure: 'lr·steps', pass: error <= 1e-3 });
      continue;
    }
    const rowMask = isLogits(name) ? mask : undefined;
    const error = maxAbsDiff(got.data, want, rowMask, V) / Math.max(maxAbs(want), 1e-30);
    const tolerance = name.startsWith('grad.') ? 2e-3 : name.startsWith('dequantized.') ? 1e-6 : 2e-4;
    results.push({ name, shape: got.shape, error, tolerance, measure: 'largest', pass: error <= tolerance });
  }
  for (const name of c.quantization?.quantized ?? []) {
    const key = `dequantized.${name}`;
    if (!computed.has(key)) results.push({ name: key, shape: header.tensors.get(key)?.shape ?? [], error: Infinity, tolerance: 1e-6, measure: 'largest', pass: false });
  }
  const mergedFile = `merged_after${steps}.safetensors`;
  if (merged && (await caseSource.exists(mergedFile))) {
    const mine = memorySource(merged, 'merged');
    const ours = await readSafetensorsHeader(mine, 'model.safetensors');
    const theirs = await readSafetensorsHeader(caseSource, mergedFile);
    for (const name of theirs.tensors.keys()) {
      const want = await readTensorF32(caseSource, theirs, name);
      if (!ours.tensors.has(name)) {
        missing.push(`${mergedFile}:${name}`);
        continue;
      }
      const got = await readTensorF32(mine, ours, name);
      const error = maxAbsDiff(got, want) / Math.max(maxAbs(want), 1e-30);
      results.push({ name: `${mergedFile}:${name}`, shape: theirs.tensors.get(name)!.shape, error, tolerance: 2e-4, measure: 'largest', pass: error <= 2e-4 });
    }
  }
  return { results, computed, missing };
}

/** The storage a case's references were made with: its projections quantized (nf4, q8) and the rest f32, or all f32. */
function caseStorage(where: string, c: CaseJson): WeightStorageOption {
  const q = c.quantization;
  if (!q) return 'f32';
  const blocks: Record<string, number> = { nf4: 64, q8: 32 };
  if (!(q.method in blocks)) throw new Error(`${where}/case.json: quantization method '${q.method}' is not nf4 or q8`);
  if (q.block_size !== blocks[q.method]) throw new Error(`${where}/case.json: ${q.method} with blocks of ${q.block_size}; this engine's ${q.method} has blocks of ${blocks[q.method]}`);
  return { projections: q.method as 'nf4' | 'q8', others: 'f32' };
}

/**
 * Every quantized projection weight of `model`, read back from the GPU and dequantized, under its
 * checkpoint name (`model.layers.0.self_attn.q_proj.weight`), [out, in], or for GPT-2's Conv1D
 * the [in, out] checkpoint layout (c_attn's q, k and v joined as its outputs).
 */
async function dequantizedWeights(ctx: GpuContext, model: LanguageModel): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const { spec } = model;
  const parts = new Map<string, Array<{ rows: number; cols: number; data: Float32Array }>>();
  for (const [l, layer] of model.weights.weights.layers.entries()) {
    for (const [field, t] of Object.entries(layer) as Array<[string, Tensor | undefined]>) {
      if (!t || !PROJECTION_FIELDS.has(field) || !isQuantDType(t.dtype)) continue;
      const module = layerModuleName(spec, l, field as LayerModule);
      if (!module) continue;
      const words = (await readTensor(ctx, t)) as Uint32Array;
      const data = t.dtype === 'nf4' ? dequantizeNf4(words, t.size) : dequantizeQ8(words, t.size);
      const name = `${module}.weight`;
      parts.set(name, [...(parts.get(name) ?? []), { rows: t.shape[0], cols: t.shape[1], data }]);
    }
  }
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, ps] of parts) {
    const N = ps.reduce((n, p) => n + p.rows, 0);
    const K = ps[0].cols;
    const w = new Float32Array(N * K); // [N, K]: the parts' rows one after another (c_attn: q, k, v)
    let at = 0;
    for (const p of ps) {
      w.set(p.data, at);
      at += p.data.length;
    }
    if (!isConv1D(spec)) {
      out.set(name, { shape: [N, K], data: w });
      continue;
    }
    const wt = new Float32Array(N * K); // Conv1D's [K, N]
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wt[k * N + n] = w[n * K + k];
    out.set(name, { shape: [K, N], data: wt });
  }
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** max |a − b|, over rows r (of `width` elements) with rowMask[r] = 1 when a mask is given. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, rowMask?: ArrayLike<number>, width = 1): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (rowMask && rowMask[Math.floor(i / width)] !== 1) continue;
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
