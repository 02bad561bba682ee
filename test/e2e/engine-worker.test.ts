// The engine through its Web Worker in headless Chromium (the widget's worker, driven through the
// element's `engine`, a LoraEngine proxy): checkpoints arrive on the page as Files every N steps
// (the run waits for the page's write), a run resumed from one ends with the uninterrupted run's
// adapter bit for bit, the page's checkpoint is copied to the worker (not taken from the page), a
// failing write rejects train() with its message, and checkpoint() hands the files over.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { collectErrors, demoSuite } from './browser.js';
import { PAIRS_JSONL } from './demo-steps.js';

describe.skipIf(!SHARED_DIR)(`engine checkpoints through the worker in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ stories260K: join(SHARED_DIR ?? '', 'models', 'stories260K') });

  it('checkpoints every N steps and resumes bit for bit', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    await page.goto(`${suite.server.url}widget/example.html`);
    const r = await page.evaluate(async (data) => {
      type Files = Record<string, Uint8Array>;
      type Engine = import('../../src/engine/types.js').LoraEngine;
      await customElements.whenDefined('lora-trainer');
      const engine = (document.createElement('lora-trainer') as unknown as { engine: Engine }).engine;
      const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
      await engine.loadModel('/models/stories260K/');
      // Two steps an epoch; rank 2 on q and v keeps a step short on SwiftShader.
      const config = { maxSteps: 3, batchSize: 1, learningRate: 1e-2, valSplit: 0, seed: 3, lora: { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] } };
      const order: string[] = [];
      const saved: Record<number, Files> = {};
      const whole = await engine.train(data, config, { onStep: (e) => void order.push(`step ${e.step}`) }, {
        checkpoint: {
          every: 1,
          write: async (files, step) => {
            order.push(`write ${step}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
            saved[step] = files;
          },
        },
      });
      const wholeAdapter = await engine.exportAdapter();
      const kept = saved[1]['adapter_model.safetensors'].slice();

      const steps: number[] = [];
      let startedAt = -1;
      const resumed = await engine.train(data, undefined, { onStart: (e) => (startedAt = e.step), onStep: (e) => void steps.push(e.step) }, { resumeFrom: saved[1] });
      const resumedAdapter = await engine.exportAdapter();
      const final = await engine.checkpoint();

      let failure = '';
      await engine.train(data, config, {}, { checkpoint: { every: 1, write: () => { throw new Error('the disk is full'); } } }).catch((e: Error) => (failure = e.message));
      const afterFailure = JSON.parse(new TextDecoder().decode((await engine.checkpoint())['trainer_state.json'])).step;
      await engine.dispose();
      return {
        whole: { steps: whole.steps, cancelled: whole.cancelled, trainLoss: whole.trainLoss },
        resumed: { steps: resumed.steps, cancelled: resumed.cancelled, trainLoss: resumed.trainLoss },
        order,
        savedSteps: Object.keys(saved).map(Number),
        names: Object.keys(saved[1]).sort(),
        startedAt,
        resumedSteps: steps,
        sameAdapter: same(resumedAdapter['adapter_model.safetensors'], wholeAdapter['adapter_model.safetensors']),
        sameConfig: same(resumedAdapter['adapter_config.json'], wholeAdapter['adapter_config.json']),
        pageCopyKept: same(saved[1]['adapter_model.safetensors'], kept),
        finalStep: JSON.parse(new TextDecoder().decode(final['trainer_state.json'])).step,
        finalNames: Object.keys(final).sort(),
        failure,
        afterFailure,
      };
    }, PAIRS_JSONL);

    expect(r.whole).toMatchObject({ steps: 3, cancelled: false });
    expect(r.order).toEqual(['step 1', 'write 1', 'step 2', 'write 2', 'step 3']);
    expect(r.savedSteps).toEqual([1, 2]);
    const names = ['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json'];
    expect(r.names).toEqual(names);
    expect(r.startedAt).toBe(1);
    expect(r.resumedSteps).toEqual([2, 3]);
    expect(r.resumed).toEqual(r.whole);
    expect(r.sameAdapter).toBe(true);
    expect(r.sameConfig).toBe(true);
    expect(r.pageCopyKept).toBe(true);
    expect(r.finalStep).toBe(3);
    expect(r.finalNames).toEqual(names);
    expect(r.failure).toMatch(/the disk is full/);
    expect(r.afterFailure).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  }, 300_000);
});
