// A GPU device lost in the middle of training (destroyed here, as a driver reset or a crashed GPU
// process would lose it): train() fails with an error that says so (Dawn's own is empty), the
// engine forgets the model that lived on it, and a run resumed on a new device from the last
// checkpoint written before the loss ends with the adapter of an uninterrupted run, bit for bit.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { Files } from '../../src/engine/types.js';
import { acquireNodeDevice } from '../../src/gpu/node.js';
import { resolveModelSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const DATA = Array.from({ length: 8 }, (_, i) => JSON.stringify({ input: `Who is ${i}?`, output: `Tom is ${i}.` })).join('\n');
const CONFIG = { maxSteps: 8, batchSize: 1, valSplit: 0, learningRate: 1e-2, seed: 5, lora: { r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] } };

describe.skipIf(!SHARED_DIR)(`a GPU device lost during training${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const model = () => resolveModelSource(join(SHARED_DIR!, 'models', 'stories260K'));
  /** An engine on a device of its own (destroyed by the test or disposed at the end). */
  const engineOnNewDevice = async () => {
    const ctx = await acquireNodeDevice();
    const engine = new Engine({ ctx });
    await engine.loadModel(model());
    return { ctx, engine };
  };

  it('fails saying so, and resumes from the last checkpoint on a new device to the uninterrupted adapter', async () => {
    const whole = await engineOnNewDevice();
    await whole.engine.train(DATA, CONFIG);
    const want = await whole.engine.exportAdapter();
    await whole.engine.dispose();
    whole.ctx.device.destroy();

    const lost = await engineOnNewDevice();
    const checkpoints: Array<[number, Files]> = [];
    const run = lost.engine.train(DATA, CONFIG, { onStep: (e) => e.step === 5 && lost.ctx.device.destroy() }, {
      checkpoint: { every: 2, write: (files, step) => void checkpoints.push([step, files]) },
    });
    await expect(run).rejects.toThrow(/^the GPU device was lost while training \(destroyed[^)]*\); load the model again to go on/);
    expect(checkpoints.map(([step]) => step)).toEqual([2, 4]);
    await expect(lost.engine.train(DATA, CONFIG)).rejects.toThrow(/no model is loaded/);

    const again = await engineOnNewDevice();
    const summary = await again.engine.train(DATA, undefined, {}, { resumeFrom: checkpoints[1][1] });
    expect(summary.steps).toBe(8);
    const got = await again.engine.exportAdapter();
    expect(Buffer.from(got['adapter_model.safetensors']).equals(Buffer.from(want['adapter_model.safetensors']))).toBe(true);
    await again.engine.dispose();
    again.ctx.device.destroy();
  }, 120_000);
});
