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
import type { GpuContext } from '../gpu/device.js';
import { GpuLora } from '../lora/gpu-lora.js';
import { mergedModelFiles } from '../lora/merge.js';
import { importPeft } from '../lora/peft.js';
import { peftKey } from '../lora/config.js';
import type { LoraAdapter } from '../lora/adapter.js';
import { destroyInferenceState, forward } from '../model/forward.js';
import { LanguageModel } from '../model/model.js';
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
  optimizer: { name: string; lr: number; betas: [number, number]; eps: number; weight_decay: number };
}

export async function runGoldenCase(ctx: GpuContext, caseSource: ModelSource, modelSource: ModelSource, log: (s: string) => void = () => {}): Promise<GoldenRun> {
  const c = await readJsonIfExists<CaseJson>(caseSource, 'case.json');
  if (!c) throw new Error(`${caseSource.description} has no case.json`);
  if (c.optimizer?.name !== 'AdamW') throw new Error(`${caseSource.description}/case.json: optimizer ${c.optimizer?.name} is not AdamW`);
  const steps = c.steps;
  const model = await LanguageModel.load(ctx, modelSource);
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

  log('merge');
  const merged = await mergedModelFiles(modelSource, model.spec, after);
  const mergedModel = await LanguageModel.load(ctx, memorySource(merged, 'merged'));
  put(`logits.merged_after${steps}`, [B, T, V], await logits(mergedModel));
  trainer.destroy();
  lora.destroy();
  mergedModel.destroy();
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
    const tolerance = name.startsWith('grad.') ? 2e-3 : 2e-4;
    results.push({ name, shape: got.shape, error, tolerance, measure: 'largest', pass: error <= tolerance });
  }
  const mergedFile = `merged_after${steps}.safetensors`;
  if (await caseSource.exists(mergedFile)) {
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
