// The engine's checkpoints and its loss-only evaluation, in Node on stories260K: a checkpoint every
// N steps (written before the next step, never after the last), a run resumed from one that ends
// bit for bit where the uninterrupted run ends (adapter, optimizer moments, losses), the same after
// a cancel and checkpoint(), what is refused, and evaluate() giving the trainer's loss without
// allocating optimizer state or gradients.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { Files, TrainStartEvent, TrainSummary } from '../../src/engine/types.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { gpuMemory, resetPeak } from '../../src/gpu/tensor.js';
import { importPeft } from '../../src/lora/peft.js';
import { folderSource, resolveModelSource } from '../../src/model/source-node.js';
import { memorySource } from '../../src/model/source.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { parseDataset } from '../../src/train/dataset.js';
import { Trainer } from '../../src/train/trainer.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const PAIRS = [
  ['What color is the sky?', 'The sky is blue.'],
  ['What does the cat say?', 'The cat says meow.'],
  ['Where does the fish live?', 'The fish lives in the water.'],
  ['What color is the grass?', 'The grass is green.'],
  ['What does the dog say?', 'The dog says woof.'],
  ['Where does the bird live?', 'The bird lives in a nest.'],
];
const DATA = PAIRS.map(([input, output]) => JSON.stringify({ input, output })).join('\n');
/**
 * 4 training rows in batches of 2 (2 steps an epoch) and 2 held out: 4 steps cross an epoch's end
 * and evaluate at steps 0, 2 and 4; dropout checks that the masks continue too. Rank 2 on q and v
 * keeps a step short on SwiftShader.
 */
const CONFIG = { maxSteps: 4, batchSize: 2, learningRate: 1e-2, valSplit: 0.2, seed: 3, lora: { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], dropout: 0.1 } };
const CHECKPOINT_FILES = ['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json'];

const state = (files: Files) => JSON.parse(new TextDecoder().decode(files['trainer_state.json']));
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!SHARED_DIR)(`Engine checkpoints and evaluation on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let engine: Engine;
  let ctx: GpuContext;
  const modelDir = () => join(SHARED_DIR!, 'models', 'stories260K');
  /** The uninterrupted run: its summary, its adapter's files and its checkpoint after the last step. */
  let whole: { summary: TrainSummary; adapter: Files; final: Files; atStep2: Files };

  beforeAll(async () => {
    ctx = await gpu();
    engine = new Engine({ ctx, resolvePath: (p) => resolveModelSource(p) });
    await engine.loadModel(modelDir());
  });
  afterAll(() => engine?.dispose());

  it('writes a checkpoint every N steps, before the next step and not after the last', async () => {
    const order: string[] = [];
    const written: Array<[number, Files]> = [];
    const summary = await engine.train(DATA, CONFIG, { onStep: (e) => void order.push(`step ${e.step}`) }, {
      checkpoint: {
        every: 2,
        write: async (files, step) => {
          order.push(`write ${step}`);
          await delay(100); // training waits for a slow write
          written.push([step, files]);
          order.push(`written ${step}`);
        },
      },
    });
    expect(summary).toMatchObject({ steps: 4, totalSteps: 4, cancelled: false });
    expect(order).toEqual(['step 1', 'step 2', 'write 2', 'written 2', 'step 3', 'step 4']);
    const [[step, files]] = written;
    expect(step).toBe(2);
    expect(Object.keys(files).sort()).toEqual(CHECKPOINT_FILES);
    expect(state(files)).toMatchObject({ step: 2, totalSteps: 4, epoch: 1, batchInEpoch: 0 });
    expect(state(files).evaluations.map((e: { step: number }) => e.step)).toEqual([0, 2]);
    whole = { summary, adapter: await engine.exportAdapter(), final: await engine.checkpoint(), atStep2: files };
    expect(state(whole.final).step).toBe(4);
  }, 300_000);

  it('resumes from a checkpoint and ends bit for bit where the uninterrupted run ends', async () => {
    let start: TrainStartEvent | undefined;
    const steps: number[] = [];
    const summary = await engine.train(DATA, undefined, { onStart: (e) => (start = e), onStep: (e) => void steps.push(e.step) }, { resumeFrom: whole.atStep2 });
    expect(start).toMatchObject({ step: 2, totalSteps: 4, stepsPerEpoch: 2, trainExamples: 4, validationExamples: 2 });
    expect(start!.config.lora).toMatchObject({ r: 2, alpha: 4, dropout: 0.1 });
    expect(steps).toEqual([3, 4]);
    const { elapsedMs: _a, ...got } = summary;
    const { elapsedMs: _b, ...want } = whole.summary;
    expect(got).toEqual(want); // losses, validation losses and the adapter's description
    const adapter = await engine.exportAdapter();
    expect(adapter['adapter_model.safetensors']).toEqual(whole.adapter['adapter_model.safetensors']);
    expect(adapter['adapter_config.json']).toEqual(whole.adapter['adapter_config.json']);
    const final = await engine.checkpoint();
    expect(final['optimizer.safetensors']).toEqual(whole.final['optimizer.safetensors']);
    const { elapsedMs: _c, ...resumedState } = state(final);
    const { elapsedMs: _d, ...wholeState } = state(whole.final);
    expect(resumedState).toEqual(wholeState);
  }, 300_000);

  it('checkpoint() during a run and after a cancel gives the state to resume from', async () => {
    let during: Files | undefined;
    const cancelled = await engine.train(DATA, CONFIG, {
      onStep: async (e) => {
        if (e.step !== 1) return;
        during = await engine.checkpoint(); // between steps 1 and 2
        await engine.cancel();
      },
    });
    expect(cancelled).toMatchObject({ steps: 1, cancelled: true });
    const after = await engine.checkpoint();
    expect(state(after).step).toBe(1);
    for (const name of ['adapter_model.safetensors', 'optimizer.safetensors']) expect(during![name]).toEqual(after[name]);
    const resumed = await engine.train(DATA, undefined, {}, { resumeFrom: after });
    expect(resumed).toMatchObject({ steps: 4, cancelled: false, trainLoss: whole.summary.trainLoss, validationLoss: whole.summary.validationLoss });
    expect((await engine.exportAdapter())['adapter_model.safetensors']).toEqual(whole.adapter['adapter_model.safetensors']);
  }, 300_000);

  it('refuses what cannot resume, and a failed write or resume keeps the current adapter', async () => {
    const current = (await engine.exportAdapter())['adapter_model.safetensors'];
    await expect(engine.train(DATA, { epochs: 2 }, {}, { resumeFrom: whole.atStep2 })).rejects.toThrow(/checkpoint's own settings: give no config \(got epochs\)/);
    await expect(engine.train(DATA, undefined, {}, { resumeFrom: whole.atStep2, continueAdapter: true })).rejects.toThrow(/leave out continueAdapter/);
    const other = PAIRS.slice(1).map(([input, output]) => JSON.stringify({ input, output })).join('\n');
    await expect(engine.train(other, undefined, {}, { resumeFrom: whole.atStep2 })).rejects.toThrow(/the examples differ from the ones this checkpoint was trained on/);
    const { 'optimizer.safetensors': _, ...noOptimizer } = whole.atStep2;
    await expect(engine.train(DATA, undefined, {}, { resumeFrom: noOptimizer })).rejects.toThrow(/optimizer\.safetensors/);
    await expect(engine.train(DATA, CONFIG, {}, { checkpoint: { every: 0, write: () => {} } })).rejects.toThrow(/checkpoint\.every must be an integer ≥ 1/);
    expect((await engine.exportAdapter())['adapter_model.safetensors']).toEqual(current);

    // A write that fails stops the run with its error; the steps done stay the current adapter.
    const failing = engine.train(DATA, { ...CONFIG, maxSteps: 3 }, {}, { checkpoint: { every: 1, write: () => Promise.reject(new Error('disk full')) } });
    await expect(failing).rejects.toThrow(/disk full/);
    expect(state(await engine.checkpoint()).step).toBe(1);

    await engine.importAdapter(whole.adapter);
    await expect(engine.checkpoint()).rejects.toThrow(/no training run to checkpoint/);
  }, 300_000);

  it('evaluate() is a loss-only pass: the trainer\'s loss, and no optimizer state or gradient buffers', async () => {
    // The adapter of the uninterrupted run is current (imported above).
    const tokenizer = await TextTokenizer.load(folderSource(modelDir()));
    const model = engine.model!;
    const examples = parseDataset(DATA, 'jsonl');
    const adapter = await importPeft(memorySource(whole.adapter), model.spec);
    // What evaluate() computed before: a trainer that never steps (valSplit 0, maxLength 512), its loss pass.
    const trainerLoss = async (withAdapter: boolean) => {
      const t = await Trainer.create(ctx, model, tokenizer, examples, { valSplit: 0, maxLength: 512 }, { adapter: withAdapter ? adapter : undefined });
      try {
        return await t.meanLoss('train');
      } finally {
        t.destroy();
      }
    };

    // Every storage buffer each evaluate() makes, by label and size.
    const made: Array<Array<{ label: string; size: number }>> = [];
    const device = ctx.device;
    const createBuffer = device.createBuffer;
    device.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
      if (d.usage & GPUBufferUsage.STORAGE) made.at(-1)!.push({ label: d.label ?? '', size: d.size });
      return createBuffer.call(this, d);
    };
    const before = gpuMemory(ctx).current;
    resetPeak(ctx);
    let tuned;
    let base;
    try {
      made.push([]);
      tuned = await engine.evaluate(DATA);
      made.push([]);
      base = await engine.evaluate(DATA, { adapter: false });
    } finally {
      device.createBuffer = createBuffer;
    }
    expect(gpuMemory(ctx).current).toBe(before); // everything freed
    const all = made.flat();
    expect(all.length).toBeGreaterThan(0);
    expect(all.filter((b) => !b.label.startsWith('eval.'))).toEqual([]); // no new adapter, no AdamW moments, no gradients
    expect(all.filter((b) => /adam|grad|^eval\.d[A-Z]/.test(b.label))).toEqual([]);
    // The most memory an evaluation held is what it allocated (the adapter's u buffers make the first one larger).
    const bytes = made.map((m) => m.reduce((n, b) => n + b.size, 0));
    expect(gpuMemory(ctx).peak - before).toBe(Math.max(...bytes));
    expect(bytes[0]).toBeGreaterThan(bytes[1]);

    expect(tuned).toEqual({ loss: await trainerLoss(true), examples: 6 });
    const fresh = await trainerLoss(false); // a new adapter, lora_B zero: the base model
    expect(base.examples).toBe(6);
    expect(Math.abs(base.loss - fresh) / fresh).toBeLessThan(1e-6);
    expect(tuned.loss).toBeLessThan(base.loss);
  }, 300_000);
});
