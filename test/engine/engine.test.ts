// The public Engine in Node on stories260K: loading, the memory estimate against the bytes really
// allocated, training with events, pause / resume / cancel, evaluation, base vs tuned generation,
// export → import, and one job at a time.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { createEngine } from '../../src/engine/node-engine.js';
import type { TrainStartEvent } from '../../src/engine/types.js';
import { gpuMemory, resetPeak } from '../../src/gpu/tensor.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { folderSource, resolveModelSource } from '../../src/model/source-node.js';
import type { StepEvent } from '../../src/train/events.js';
import { modelElements } from '../../src/train/memory.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { storiesEndingWithBos } from '../stories-eos.js';

const PAIRS = [
  ['Who is Lily?', 'Lily is a girl.'],
  ['Where is the cat?', 'The cat is in the box.'],
];
const DATA = PAIRS.map(([input, output]) => JSON.stringify({ input, output })).join('\n');
/**
 * Enough steps for stories260K to learn both answers by heart (attention only: on SwiftShader a
 * step then takes about 3 s instead of 5-10 s).
 */
const STEPS = 10;
const ATTENTION = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
const CONFIG = { epochs: STEPS, batchSize: 2, learningRate: 1e-2, valSplit: 0, lrSchedule: 'constant' as const, lora: { r: 8, alpha: 16, targetModules: ATTENTION } };

describe.skipIf(!SHARED_DIR)(`Engine on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let engine: Engine;
  let modelDir: () => string;

  beforeAll(async () => {
    const dir = storiesEndingWithBos();
    modelDir = () => dir;
    engine = new Engine({ ctx: await gpu(), resolvePath: (p) => resolveModelSource(p) });
  });
  afterAll(() => engine?.dispose());

  it('says what is missing before a model is loaded', async () => {
    await expect(engine.generate('hi')).rejects.toThrow(/no model is loaded/);
    await expect(engine.exportAdapter()).rejects.toThrow(/no model is loaded/);
    await expect(engine.loadModel('  ')).rejects.toThrow(/no model given/);
    await expect(engine.loadModel('/no/such/folder')).rejects.toThrow(/neither a folder that exists/);
  });

  it('loads a model and reports its shape and GPU memory', async () => {
    const ctx = await gpu();
    const before = gpuMemory(ctx).current;
    const info = await engine.loadModel(modelDir());
    expect(info).toMatchObject({ modelType: 'llama', layers: 5, width: 64, heads: 8, kvHeads: 4, vocabulary: 512, chatTemplate: false });
    // The parameter count the estimate derives from the config is the checkpoint's own.
    const header = await readSafetensorsHeader(folderSource(modelDir()), 'model.safetensors');
    expect(info.parameters).toBe([...header.tensors.values()].reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0));
    expect(info.targetModules).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    // The weights' bytes as counted by the allocator equal the memory estimate's model part.
    expect(info.gpuBytes).toBe(gpuMemory(ctx).current - before);
    await expect(engine.exportAdapter()).rejects.toThrow(/no adapter yet/);
  });

  it('estimates the training memory within 10% of what a training run allocates, with and without gradient checkpointing', async () => {
    const ctx = await gpu();
    const activations: number[] = [];
    for (const gradientCheckpointing of [false, true]) {
      const config = { ...CONFIG, gradientCheckpointing };
      const report = await engine.estimateMemory(config, DATA);
      expect(report.batchSize).toBe(2);
      expect(report.fits).toBe(true);
      const before = gpuMemory(ctx).current;
      resetPeak(ctx);
      await engine.train(DATA, { ...config, maxSteps: 1 });
      const measured = gpuMemory(ctx).peak - before;
      const estimated = report.estimate.adapterBytes + report.estimate.activationBytes;
      expect(Math.abs(estimated - measured) / measured, `checkpointing ${gradientCheckpointing}: estimated ${estimated} B, allocated ${measured} B`).toBeLessThan(0.1);
      activations.push(report.estimate.activationBytes);
    }
    // Checkpointing keeps one layer's block activations instead of five.
    expect(activations[1]).toBeLessThan(activations[0]);
    const report = await engine.estimateMemory(CONFIG, DATA);
    expect(report.estimate.modelBytes).toBe(4 * modelElements((await import('../../src/model/config.js')).parseModelConfig(
      JSON.parse((await import('node:fs')).readFileSync(join(modelDir(), 'config.json'), 'utf8')), 'config.json')).total);
  });

  it('trains with events, then answers the trained inputs where the base model does not', async () => {
    const steps: StepEvent[] = [];
    let start: TrainStartEvent | undefined;
    const base = await engine.generate(PAIRS[0][0], { adapter: false, maxNewTokens: 12 });
    const baseLoss = await engine.evaluate(DATA, { adapter: false });
    const summary = await engine.train(DATA, CONFIG, { onStart: (e) => (start = e), onStep: (e) => void steps.push(e) });
    expect(start).toMatchObject({ totalSteps: STEPS, trainExamples: 2, validationExamples: 0 });
    expect(summary).toMatchObject({ steps: STEPS, totalSteps: STEPS, cancelled: false });
    expect(steps.map((e) => e.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    expect(steps.at(-1)!.loss).toBeLessThan(steps[0].loss / 4);
    const tuned = await engine.evaluate(DATA);
    expect(tuned.loss).toBeLessThan(baseLoss.loss / 4);
    for (const [input, output] of PAIRS) expect((await engine.generate(input, { maxNewTokens: 24 })).text).toBe(output);
    expect(base.text).not.toBe(PAIRS[0][1]);
    // The adapter off gives the base model's answer back.
    expect((await engine.generate(PAIRS[0][0], { adapter: false, maxNewTokens: 12 })).text).toBe(base.text);
  }, 300_000);

  it('exports the adapter and imports it back with the same answers', async () => {
    const files = await engine.exportAdapter();
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const info = await engine.importAdapter(files);
    expect(info).toMatchObject({ r: 8, alpha: 16, baseModel: modelDir() });
    expect([...info.targetModules].sort()).toEqual([...ATTENTION].sort());
    expect((await engine.generate(PAIRS[1][0], { maxNewTokens: 24 })).text).toBe(PAIRS[1][1]);
    const again = await engine.exportAdapter();
    expect(again['adapter_model.safetensors']).toEqual(files['adapter_model.safetensors']);
    await expect(engine.importAdapter({ 'adapter_config.json': files['adapter_config.json'] })).rejects.toThrow(/adapter_model\.safetensors/);
  });

  it('writes the TRL folder for a GPU server with the same settings', async () => {
    const files = await engine.exportTrl(DATA, CONFIG);
    expect(Object.keys(files).sort()).toEqual(['README.md', 'train.jsonl', 'train.py', 'webgpu-lora.json']);
    const lines = new TextDecoder().decode(files['train.jsonl']).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].completion).toBe(PAIRS[0][1]);
    const script = new TextDecoder().decode(files['train.py']);
    expect(script).toMatch(/r=8\b/);
    expect(script).toMatch(/lora_alpha=16\b/);
  });

  it('pauses, resumes and cancels between steps, and runs one job at a time', async () => {
    const steps: number[] = [];
    let pausedAt = 0;
    const run = engine.train(DATA, { ...CONFIG, epochs: 50 }, {
      onStep: (e) => {
        steps.push(e.step);
        if (e.step === 2) void engine.pause().then(() => (pausedAt = Date.now()));
      },
    });
    await expect.poll(() => pausedAt, { timeout: 60_000 }).toBeGreaterThan(0);
    await expect(engine.generate('hi')).rejects.toThrow(/cannot start generating while training/);
    await new Promise((r) => setTimeout(r, 500));
    expect(steps).toEqual([1, 2]);
    await engine.resume();
    await expect.poll(() => steps.length, { timeout: 60_000 }).toBeGreaterThanOrEqual(4);
    await engine.cancel();
    const summary = await run;
    expect(summary.cancelled).toBe(true);
    expect(summary.steps).toBe(steps.at(-1));
    expect(summary.steps).toBeLessThan(50);
    // The cancelled run's adapter is the current one.
    expect(Object.keys(await engine.exportAdapter())).toHaveLength(2);
  });

  it('reports bad datasets with their lines, and keeps the current adapter', async () => {
    const before = await engine.exportAdapter();
    await expect(engine.train('{"input": "a", "output": "b"}\n{"input": "x"}\nnot json', CONFIG, {}, { fileName: 'pasted' }))
      .rejects.toThrow(/pasted:2: .*output[\s\S]*pasted:3/);
    expect((await engine.exportAdapter())['adapter_model.safetensors']).toEqual(before['adapter_model.safetensors']);
  });
});

describe.skipIf(!SHARED_DIR)(`createEngine (Node)${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('loads a folder, generates the README continuation, and frees its own device', async () => {
    const engine = await createEngine();
    const info = await engine.loadModel(join(SHARED_DIR!, 'models', 'stories260K'));
    expect(info.modelType).toBe('llama');
    const reply = await engine.generate('Once upon a time', { mode: 'text', maxNewTokens: 12 });
    expect(reply.text).toMatch(/^, there was a little girl named Lily/);
    await engine.dispose();
    await expect(engine.gpuInfo()).resolves.toMatchObject({ summary: expect.stringMatching(/^adapter: /) });
  });
});
