// Loading streams: each tensor is handed on (to the GPU, quantized or rounded there) as soon as it
// is read, before the next tensor's bytes are read, so that no more than one tensor of the model
// is held in f32 on the CPU; a missing tensor is found in the headers before anything is read or
// allocated; a read that fails midway leaves nothing allocated.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpuMemory } from '../../src/gpu/tensor.js';
import { destroyWeights, planWeights, streamWeightsToGpu, uploadWeights } from '../../src/model/gpu-weights.js';
import { folderSource } from '../../src/model/source-node.js';
import type { ModelSource } from '../../src/model/source.js';
import { plannedTensors } from '../../src/model/train-buffer-plan.js';
import { loadModelSpec, loadWeights, streamWeights } from '../../src/model/weights.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

/** `source`, recording every read of model.safetensors' data (past its header) into `log`; the n-th such read fails when failAt = n. */
function recordingSource(source: ModelSource, log: string[], failAt = Infinity): ModelSource {
  let dataReads = 0;
  return {
    description: source.description,
    exists: (f) => source.exists(f),
    size: (f) => source.size(f),
    read: async (file, start, end) => {
      const isData = file.endsWith('.safetensors') && start !== undefined && start >= 1024;
      if (isData) {
        if (++dataReads === failAt) throw new Error(`test: read ${dataReads} of ${file} fails`);
        log.push(`read ${start}`);
      }
      return source.read(file, start, end);
    },
  };
}

describe.skipIf(!SHARED_DIR)(`streamWeights${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  for (const model of ['stories260K', 'tiny-random-gpt2', 'tiny-random-gemma3']) {
    it(`hands ${model}'s tensors on one at a time, each before the next one is read, under the plan's names`, async () => {
      const source = folderSource(join(SHARED_DIR!, 'models', model));
      const { spec } = await loadModelSpec(source);
      const log: string[] = [];
      const fields: string[] = [];
      const w = await streamWeights(recordingSource(source, log), spec, (field, t) => {
        log.push(`sink ${field}`);
        fields.push(field);
        return t.shape;
      });
      // Reads and hand-overs alternate (GPT-2's c_attn weight and bias are read, then split into
      // three tensors each); nothing is read ahead.
      const pattern = log.map((e) => (e.startsWith('read') ? 'r' : 's')).join('');
      if (spec.arch === 'gpt2') expect(pattern).toMatch(/^(r+s+)+$/);
      else expect(pattern).toBe('rs'.repeat(fields.length));
      expect(log.filter((e) => e.startsWith('read')).length).toBeGreaterThan(0);
      // The names are the plan's fields, each once; what the sink returned is laid out as the weights.
      const planned = plannedTensors(planWeights(spec)).map((t) => t.name).filter((n) => !n.startsWith('rope'));
      expect([...fields].sort()).toEqual([...planned].sort());
      expect(w.embed).toEqual([spec.V, spec.C]);
      expect(w.layers[0].q).toEqual([spec.NH * spec.HS, spec.C]);
    });
  }

  it('uploads to the GPU exactly what uploadWeights uploads from the loaded CPU weights (nf4)', async () => {
    const ctx = await gpu();
    const source = folderSource(join(SHARED_DIR!, 'models', 'stories260K'));
    const { spec } = await loadModelSpec(source);
    const streamed = await streamWeightsToGpu(ctx, source, spec, 'nf4');
    const whole = uploadWeights(ctx, spec, await loadWeights(source, spec), 'nf4');
    const { readTensor } = await import('../../src/gpu/tensor.js');
    for (const field of ['q', 'down', 'attnNorm'] as const) {
      const [a, b] = [streamed.layers[1][field]!, whole.layers[1][field]!];
      expect(a.dtype).toBe(b.dtype);
      expect(await readTensor(ctx, a as never)).toEqual(await readTensor(ctx, b as never));
    }
    destroyWeights(streamed);
    destroyWeights(whole);
  });

  it('reports a tensor missing from the headers before reading or allocating anything', async () => {
    const ctx = await gpu();
    const source = folderSource(join(SHARED_DIR!, 'models', 'stories260K'));
    const { spec } = await loadModelSpec(source);
    const log: string[] = [];
    const before = gpuMemory(ctx).current;
    const wrong = { ...spec, L: spec.L + 1 }; // one layer more than the file has
    await expect(streamWeightsToGpu(ctx, recordingSource(source, log), wrong)).rejects.toThrow(`tensor 'model.layers.${spec.L}.input_layernorm.weight' (or 'layers.${spec.L}.input_layernorm.weight') is missing`);
    expect(log).toEqual([]);
    expect(gpuMemory(ctx).current).toBe(before);
  });

  it('leaves nothing allocated when a read fails midway', async () => {
    const ctx = await gpu();
    const source = folderSource(join(SHARED_DIR!, 'models', 'stories260K'));
    const { spec } = await loadModelSpec(source);
    const before = gpuMemory(ctx).current;
    await expect(streamWeightsToGpu(ctx, recordingSource(source, [], 10), spec, 'f16')).rejects.toThrow('test: read 10 of model.safetensors fails');
    expect(gpuMemory(ctx).current).toBe(before);
  });
});
