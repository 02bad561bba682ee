// Training never produces garbage (issue 15, item 2): a step whose loss or gradient is NaN or
// infinite applies no update (the adapter and AdamW's moments keep every bit), the run reports it
// and stops after maxNonFiniteSteps such steps in a row, a checkpoint taken after such a step
// resumes, and an adapter holding a NaN or an infinity is never exported. The non-finite values
// are injected through the weights: NaN in stories260K's final norm makes every logit NaN (WGSL
// leaves what max() and exp() make of a NaN to the device, so the loss may come out NaN, as on
// SwiftShader, or finite with NaN gradients: either is a non-finite step); an adapter with huge A
// and tiny B keeps the loss finite while the sum of the squared gradients overflows f32 (an
// infinite gradient norm with every gradient finite).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromOptions } from '../../src/cli/train.js';
import { UsageError } from '../../src/cli/common.js';
import { Engine } from '../../src/engine/engine.js';
import { readTensor, writeTensor } from '../../src/gpu/tensor.js';
import { initLoraAdapter, type LoraAdapter } from '../../src/lora/adapter.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { exportPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { DEFAULT_TRAINING_CONFIG, resolveTrainingConfig } from '../../src/train/config.js';
import { parseDataset } from '../../src/train/dataset.js';
import { NonFiniteTrainingError, type StepEvent } from '../../src/train/events.js';
import { DEFAULT_OPTIMIZER, TrainStep } from '../../src/train/step.js';
import { Trainer, type CheckpointFiles } from '../../src/train/trainer.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const LORA = { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'], useRslora: false, dropout: 0 };
const bits = (a: Float32Array) => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

describe('maxNonFiniteSteps and the export of non-finite adapters (no GPU)', () => {
  it('is validated like the other settings, defaults to 3, and --max-non-finite-steps sets it', () => {
    expect(DEFAULT_TRAINING_CONFIG.maxNonFiniteSteps).toBe(3);
    expect(resolveTrainingConfig({ maxNonFiniteSteps: 1 }).maxNonFiniteSteps).toBe(1);
    for (const bad of [0, 1.5, -2, Number.NaN, '2' as unknown as number]) {
      expect(() => resolveTrainingConfig({ maxNonFiniteSteps: bad })).toThrow(/training config: maxNonFiniteSteps must be an integer ≥ 1/);
    }
    expect(configFromOptions({ 'max-non-finite-steps': '5' }).maxNonFiniteSteps).toBe(5);
    expect(() => configFromOptions({ 'max-non-finite-steps': '0' })).toThrow(UsageError);
    expect(() => configFromOptions({ 'max-non-finite-steps': '0' })).toThrow(/--max-non-finite-steps: must be an integer ≥ 1/);
  });
});

describe.skipIf(!SHARED_DIR)(`non-finite steps on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let tokenizer: TextTokenizer;
  /** The final norm's weights as loaded; poison(true) replaces them with NaN, poison(false) puts them back. */
  let finalNorm: Float32Array;
  const poison = async (on: boolean) => {
    writeTensor(await gpu(), model.weights.weights.finalNorm, on ? finalNorm.map(() => Number.NaN) : finalNorm);
  };
  const batch = (seed: number): TokenBatch => {
    const B = 2;
    const T = 12;
    const ids = Int32Array.from({ length: B * T }, (_, i) => 3 + ((i * 37 + seed * 11) % 400));
    return { ids, labels: Int32Array.from(ids), attentionMask: new Int32Array(B * T).fill(1), B, T };
  };
  const adapter = (): LoraAdapter => initLoraAdapter(model.spec, LORA, 1, 'stories260K');

  beforeAll(async () => {
    const source = folderSource(join(SHARED_DIR!, 'models', 'stories260K'));
    tokenizer = await TextTokenizer.load(source);
    model = await LanguageModel.load(await gpu(), source);
    finalNorm = await readTensor(await gpu(), model.weights.weights.finalNorm);
  });
  afterAll(() => model?.destroy());

  it('a step with a NaN logit leaves the adapter and AdamW moments bit-identical; the next finite step updates', async () => {
    const ctx = await gpu();
    const lora = GpuLora.create(ctx, adapter());
    const step = new TrainStep(ctx, model, lora, 2, 12, DEFAULT_OPTIMIZER);
    try {
      const first = await step.tryStep([batch(0)], 1e-2);
      expect(first.nonFinite).toBeNull();
      expect(Number.isFinite(first.gradNorm) && first.gradNorm > 0).toBe(true);
      const params = await readTensor(ctx, lora.params);
      const opt = await step.optimizerState();

      await poison(true);
      const skipped = await step.tryStep([batch(1)], 1e-2);
      await poison(false);
      expect(['loss', 'gradient']).toContain(skipped.nonFinite?.what);
      expect(Number.isFinite(skipped.nonFinite!.value)).toBe(false);
      expect(skipped.nonFinite!.value).toBe(skipped.nonFinite!.what === 'loss' ? skipped.loss : skipped.gradNorm);
      expect(bits(await readTensor(ctx, lora.params))).toEqual(bits(params));
      const after = await step.optimizerState();
      expect(bits(after.m)).toEqual(bits(opt.m));
      expect(bits(after.v)).toEqual(bits(opt.v));
      // The skipped step still counts (AdamW's t = steps taken; see TrainingConfig.maxNonFiniteSteps).
      expect(after.step).toBe(2);

      const next = await step.tryStep([batch(1)], 1e-2);
      expect(next.nonFinite).toBeNull();
      expect(bits(await readTensor(ctx, lora.params))).not.toEqual(bits(params));
    } finally {
      step.destroy();
      lora.destroy();
    }
  });

  it('a finite loss with an overflowing gradient norm is skipped as a non-finite gradient, bit-identical', async () => {
    const ctx = await gpu();
    // A·1e25 and B = 1e-25 (a ramp): the adapter's output x·Aᵀ·Bᵀ stays small, but dB ∝ x·Aᵀ is
    // about 1e24 per element, so Σ grad² overflows f32 while every gradient is finite.
    const a = adapter();
    for (const w of a.weights.values()) {
      for (let i = 0; i < w.A.length; i++) w.A[i] *= 1e25;
      for (let i = 0; i < w.B.length; i++) w.B[i] = 1e-25 * ((i % 7) - 3);
    }
    const lora = GpuLora.create(ctx, a);
    const step = new TrainStep(ctx, model, lora, 2, 12, DEFAULT_OPTIMIZER);
    try {
      const params = await readTensor(ctx, lora.params);
      const r = await step.tryStep([batch(0)], 1e-2);
      expect(Number.isFinite(r.loss), `loss ${r.loss}`).toBe(true);
      expect(r.nonFinite).toEqual({ what: 'gradient', value: Infinity });
      expect(bits(await readTensor(ctx, lora.params))).toEqual(bits(params));
      const opt = await step.optimizerState();
      expect(opt.m.every((x) => x === 0) && opt.v.every((x) => x === 0)).toBe(true);
    } finally {
      step.destroy();
      lora.destroy();
    }
  });

  it('a run whose every step is non-finite reports each and stops after maxNonFiniteSteps with the first adapter', async () => {
    const ctx = await gpu();
    const examples = parseDataset(Array.from({ length: 6 }, (_, i) => JSON.stringify({ input: `Who is ${i}?`, output: `Tom is ${i}.` })).join('\n'), 'jsonl', 'pairs.jsonl');
    const config = { maxSteps: 8, batchSize: 2, valSplit: 0, learningRate: 1e-2, lrSchedule: 'constant' as const, seed: 3, lora: LORA, maxNonFiniteSteps: 2 };
    const trainer = await Trainer.create(ctx, model, tokenizer, examples, config, { baseModel: 'stories260K' });
    try {
      const before = exportPeft(await trainer.adapter(), model.spec)['adapter_model.safetensors'];
      const steps: StepEvent[] = [];
      await poison(true);
      let error: unknown;
      try {
        await trainer.run({ onStep: (e) => void steps.push(e) });
      } catch (e) {
        error = e;
      } finally {
        await poison(false);
      }
      expect(error).toBeInstanceOf(NonFiniteTrainingError);
      const e = error as NonFiniteTrainingError;
      expect([e.step, e.totalSteps, e.consecutive]).toEqual([2, 8, 2]);
      const what = e.nonFinite.what;
      expect(e.message).toMatch(new RegExp(`^training stopped at step 2 of 8: 2 consecutive steps had a non-finite ${what} \\(at step 2 the ${what === 'loss' ? 'loss' : 'gradient norm'} was (NaN|-?Infinity); learning rate 0\\.01\\)`));
      expect(e.message).toMatch(/the adapter is the one after step 0/);
      expect(steps.map((s) => s.step)).toEqual([1, 2]);
      for (const s of steps) expect(Number.isFinite(s.nonFinite!.value), `step ${s.step}`).toBe(false);
      expect(trainer.step).toBe(2);
      expect(exportPeft(await trainer.adapter(), model.spec)['adapter_model.safetensors']).toEqual(before);

      // The same trainer, its model repaired, goes on from step 2 with finite steps.
      const more: StepEvent[] = [];
      trainer.pause();
      const run = trainer.run({ onStep: (s) => { more.push(s); trainer.cancel(); } });
      trainer.resume();
      const result = await run;
      expect(more.map((s) => [s.step, s.nonFinite])).toEqual([[3, undefined]]);
      expect(Number.isFinite(result.trainLoss)).toBe(true);
    } finally {
      trainer.destroy();
    }
  });

  it('a checkpoint taken after a step with a NaN loss resumes (its loss is saved as null)', async () => {
    const ctx = await gpu();
    const examples = parseDataset(Array.from({ length: 6 }, (_, i) => JSON.stringify({ input: `Who is ${i}?`, output: `Tom is ${i}.` })).join('\n'), 'jsonl', 'pairs.jsonl');
    const config = { maxSteps: 4, batchSize: 2, valSplit: 0, learningRate: 1e-2, seed: 3, lora: LORA };
    const trainer = await Trainer.create(ctx, model, tokenizer, examples, config, { baseModel: 'stories260K' });
    let resumed: Trainer | undefined;
    try {
      let files: CheckpointFiles | undefined;
      await trainer.run({
        onStep: async (e) => {
          if (e.step === 1) await poison(true);
          if (e.step === 2) {
            await poison(false);
            files = await trainer.checkpoint();
            trainer.cancel();
          }
        },
      });
      // Step 2's loss was not finite: JSON has no NaN, so the state file says null.
      const state = JSON.parse(new TextDecoder().decode(files!['trainer_state.json'])) as { losses: unknown[] };
      expect(state.losses.length).toBe(2);
      expect(Number.isFinite(state.losses[0])).toBe(true);
      expect(state.losses[1] === null || Number.isFinite(state.losses[1]), String(state.losses[1])).toBe(true);
      resumed = await Trainer.fromCheckpoint(ctx, model, tokenizer, examples, files!);
      expect(resumed.step).toBe(2);
      const result = await resumed.run();
      expect(result.steps).toBe(4);
      expect(Number.isFinite(result.trainLoss)).toBe(true);
    } finally {
      await poison(false);
      trainer.destroy();
      resumed?.destroy();
    }
  });

  it('exportPeft and the engine refuse an adapter with a NaN or an infinity, naming the tensor', async () => {
    const bad = adapter();
    const path = bad.modules[3].path;
    bad.weights.get(path)!.B[5] = Infinity;
    const key = `base_model.model.${path}.lora_B.weight`;
    expect(() => exportPeft(bad, model.spec)).toThrow(`exportPeft: tensor '${key}' holds Infinity at [1, 1]`);
    const nan = adapter();
    nan.weights.get(nan.modules[0].path)!.A[2] = Number.NaN;
    expect(() => exportPeft(nan, model.spec, { dtype: 'F16' })).toThrow(/exportPeft: tensor 'base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight' holds NaN at \[0, 2\]; an adapter with NaN or infinite values is never exported/);
    expect(exportPeft(adapter(), model.spec)['adapter_model.safetensors'].length).toBeGreaterThan(0);

    const engine = new Engine({ ctx: await gpu() });
    try {
      await engine.loadModel(folderSource(join(SHARED_DIR!, 'models', 'stories260K')));
      await engine.importAdapter(bad);
      await expect(engine.exportAdapter()).rejects.toThrow(`tensor '${key}' holds Infinity`);
    } finally {
      await engine.dispose();
    }
  });
});
