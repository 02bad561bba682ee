// The training loop on stories260K: events, evaluation, determinism (same seed → the same adapter,
// bit for bit) and exact resumption from a checkpoint, on a small config that takes a few steps.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { makeBatch } from '../../src/train/batches.js';
import type { TrainingConfigInput } from '../../src/train/config.js';
import { parseDataset, type Example } from '../../src/train/dataset.js';
import { prepareExamples } from '../../src/train/prepare.js';
import { TrainStep } from '../../src/train/step.js';
import { Trainer, type EvalEvent, type StepEvent, type TrainResult } from '../../src/train/trainer.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const PAIRS = [
  ['Who is Lily?', 'Lily is a girl.'],
  ['Who is Tom?', 'Tom is a boy.'],
  ['What is red?', 'The ball is red.'],
  ['What is big?', 'The tree is big.'],
  ['Where is the cat?', 'The cat is in the box.'],
  ['Where is the dog?', 'The dog is on the bed.'],
  ['What is hot?', 'The sun is hot.'],
  ['What is soft?', 'The bed is soft.'],
];
const jsonl = (pairs: string[][]) => pairs.map(([input, output]) => JSON.stringify({ input, output })).join('\n');

/**
 * 6 training and 2 validation examples; batches of 2, two per step: 3 micro-batches per epoch, so
 * 2 steps per epoch (the second with one micro-batch), 5 steps in all (maxSteps cuts the third
 * epoch short). Warmup, a decaying schedule and LoRA dropout make every step different.
 */
const CONFIG: TrainingConfigInput = {
  epochs: 3,
  maxSteps: 5,
  batchSize: 2,
  gradientAccumulationSteps: 2,
  learningRate: 1e-2,
  lrSchedule: 'linear',
  warmupSteps: 1,
  valSplit: 0.25,
  seed: 7,
  lora: { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'], dropout: 0.1 },
};

describe.skipIf(!SHARED_DIR)(`Trainer on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let tokenizer: TextTokenizer;
  let examples: Example[];
  /** The uninterrupted run every other run is compared with. */
  let full: { result: TrainResult; steps: StepEvent[]; evals: EvalEvent[]; bytes: Uint8Array };

  const create = async (config = CONFIG, ex = examples) => Trainer.create(await gpu(), model, tokenizer, ex, config, { baseModel: 'stories260K' });
  const weightBytes = (r: TrainResult) => exportPeft(r.adapter, model.spec)['adapter_model.safetensors'];

  beforeAll(async () => {
    const source = folderSource(join(SHARED_DIR!, 'models', 'stories260K'));
    tokenizer = await TextTokenizer.load(source);
    model = await LanguageModel.load(await gpu(), source);
    examples = parseDataset(jsonl(PAIRS), 'jsonl', 'pairs.jsonl');
    const t = await create();
    const steps: StepEvent[] = [];
    const evals: EvalEvent[] = [];
    const result = await t.run({ onStep: (e) => void steps.push(e), onEval: (e) => void evals.push(e) });
    t.destroy();
    full = { result, steps, evals, bytes: weightBytes(result) };
  });

  it('plans the steps and reports every step and evaluation', () => {
    const { result, steps, evals } = full;
    expect(result).toMatchObject({ steps: 5, totalSteps: 5, cancelled: false, truncated: 0, skipped: 0 });
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    expect(steps.every((e) => e.totalSteps === 5 && e.tokensPerSecond > 0 && e.elapsedMs > 0 && Number.isFinite(e.loss))).toBe(true);
    // Epochs done after each step: 2 of 3 micro-batches, then the epoch's end, and so on.
    steps.forEach((e, i) => expect(e.epoch).toBeCloseTo([2 / 3, 1, 5 / 3, 2, 8 / 3][i], 12));
    // Linear with one warmup step over 5 steps: step k uses 1e-2 · [0, 1, ¾, ½, ¼][k].
    steps.forEach((e, i) => expect(e.learningRate).toBeCloseTo(1e-2 * [0, 1, 0.75, 0.5, 0.25][i], 15));
    expect(steps[4].etaMs).toBe(0);
    // Before training, at each epoch's end, and after the last step.
    expect(evals.map((e) => e.step)).toEqual([0, 2, 4, 5]);
    expect(result.initialValidationLoss).toBe(evals[0].validationLoss);
    expect(result.validationLoss).toBe(evals[3].validationLoss);
    // The last epoch's worth of steps (2 per epoch): steps 4 and 5.
    expect(result.trainLoss).toBeCloseTo((steps[3].loss + steps[4].loss) / 2, 12);
    // Step 1 runs at lr 0, so the adapter's B is still zero and its loss is the base model's.
    expect(steps[1].loss).toBeLessThan(steps[0].loss + 1);
  });

  it('trains the same adapter, bit for bit, from the same seed', async () => {
    const t = await create();
    const again = await t.run();
    t.destroy();
    expect(again.steps).toBe(5);
    expect(Buffer.from(weightBytes(again)).equals(Buffer.from(full.bytes))).toBe(true);
  });

  it('pauses between steps, and a run stopped at a checkpoint resumes to the same adapter, bit for bit', async () => {
    const t = await create();
    let pausedAt = -1;
    const first = await t.run({
      onStep: async (e) => {
        if (e.step === 1) {
          t.pause();
          setTimeout(() => {
            pausedAt = t.step;
            expect(t.paused).toBe(true);
            t.resume();
          }, 50);
        }
        if (e.step === 3) t.cancel();
      },
    });
    expect(pausedAt).toBe(1);
    expect(first).toMatchObject({ steps: 3, cancelled: true });
    const files = await t.checkpoint();
    t.destroy();
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    const state = JSON.parse(new TextDecoder().decode(files['trainer_state.json']));
    // After 3 steps: epoch 1 (0-based), its first step done, so its 3rd micro-batch (index 2) comes next.
    expect(state).toMatchObject({ step: 3, totalSteps: 5, epoch: 1, batchInEpoch: 2, orderSeed: 7 });
    expect(state.losses).toEqual(full.steps.slice(0, 3).map((e) => e.loss));

    const resumed = await Trainer.fromCheckpoint(await gpu(), model, tokenizer, examples, files);
    expect(resumed.step).toBe(3);
    const steps: number[] = [];
    const rest = await resumed.run({ onStep: (e) => void steps.push(e.step) });
    resumed.destroy();
    expect(steps).toEqual([4, 5]);
    expect(rest).toMatchObject({ steps: 5, cancelled: false, initialValidationLoss: full.result.initialValidationLoss });
    expect(rest.trainLoss).toBe(full.result.trainLoss);
    expect(rest.validationLoss).toBe(full.result.validationLoss);
    expect(Buffer.from(weightBytes(rest)).equals(Buffer.from(full.bytes))).toBe(true);
  });

  it('refuses a checkpoint with other examples', async () => {
    const t = await create({ ...CONFIG, maxSteps: 1 });
    const files = await t.checkpoint();
    t.destroy();
    const other = parseDataset(jsonl([...PAIRS.slice(1), ['Who is Sam?', 'Sam is a boy.']]), 'jsonl');
    await expect(Trainer.fromCheckpoint(await gpu(), model, tokenizer, other, files)).rejects.toThrow(/the examples differ from the ones this checkpoint was trained on/);
  });

  it('pads its batches to a multiple of 8 positions (or the longest example), so that steps repeat their shapes', async () => {
    const t = await create({ ...CONFIG, maxSteps: 6 });
    const lengths: number[] = [];
    const step = (t as unknown as { trainStep: TrainStep }).trainStep;
    const tryStep = step.tryStep.bind(step);
    step.tryStep = (micro, lr) => {
      lengths.push(...micro.map((b) => b.T));
      return tryStep(micro, lr);
    };
    await t.run({});
    t.destroy();
    expect(lengths.length).toBeGreaterThan(0);
    for (const T of lengths) expect(T % 8 === 0 || T === t.data.longest, `T = ${T}`).toBe(true);
    // and the rows' own lengths differ: without the rounding the shapes would too
    expect(new Set(t.data.train.map((r) => r.ids.length)).size).toBeGreaterThan(1);
  });

    it('evaluates the token-weighted mean loss of the validation set', async () => {
    const t = await create();
    const validationLoss = (await t.evaluate())!;
    // Row by row: Σ loss_i · count_i / Σ count_i.
    const step = new TrainStep(await gpu(), model, t.lora, 1, t.data.longest);
    let sum = 0;
    let count = 0;
    for (const row of t.data.validation) {
      const r = await step.loss(makeBatch([row], 0));
      sum += r.loss * r.count;
      count += r.count;
    }
    step.destroy();
    t.destroy();
    expect(t.data.validation.length).toBe(2);
    expect(validationLoss).toBeCloseTo(sum / count, 5);
  });

  it('continues a given adapter with its own LoRA settings', async () => {
    const t = await Trainer.create(await gpu(), model, tokenizer, examples, { maxSteps: 1, lora: { r: 16 } }, { adapter: full.result.adapter });
    expect(t.config.lora).toEqual(full.result.adapter.config);
    expect(t.baseModel).toBe('stories260K');
    const start = await t.adapter();
    t.destroy();
    expect(Buffer.from(exportPeft(start, model.spec)['adapter_model.safetensors']).equals(Buffer.from(full.bytes))).toBe(true);
  });

  it('counts truncated examples and skips the ones with nothing left to learn', async () => {
    const long = 'The little girl went to the park with her mom and her dog and they played all day long.';
    const ex = parseDataset(jsonl([...PAIRS, ['Tell me a story.', long], [`${long} ${long}`, 'Yes.']]), 'jsonl');
    const opts = { maxLength: 60, trainOnInputs: false, valSplit: 0, seed: 0 };
    const data = prepareExamples(ex, tokenizer, opts);
    expect(data.truncatedLines).toEqual([9]);
    expect(data.skippedLines).toEqual([10]);
    expect(data.train.length).toBe(9);
    expect(data.longest).toBe(60);
    const t = await create({ ...CONFIG, maxLength: 60, valSplit: 0 }, ex);
    expect([t.truncated, t.skipped]).toEqual([1, 1]);
    t.destroy();
    expect(() => prepareExamples(ex.slice(9), tokenizer, opts)).toThrow(/none of the 1 training examples has a reply token left within maxLength 60/);
  });
});
