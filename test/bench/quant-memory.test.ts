// QLoRA's memory, measured through the built bench's --memory-only path (dist/bench/bench.mjs:
// the model loaded with its projections quantized, then the adapter, its gradients and AdamW
// moments and every buffer of a training step allocated, the tracked bytes read; no step runs):
// with nf4 weights and gradient checkpointing, the Qwen2.5-1.5B and Llama 3.2 1B shapes train at
// 4 x 256 within 2 GiB and Llama 3.2 3B within 3.5 GiB, and Qwen2.5-0.5B at 8 x 256 takes at most
// 0.75 of its f16 peak. Each memory row's weights_bytes is the estimate's modelBytes
// (src/train/memory.ts), and the peak the estimate's total. (With checkpointing the logits chunk
// keeps its 64-row size at these batches, src/model/train-buffer-plan.ts logitsChunkRows: Qwen2.5's
// 256-row chunk, 148 MiB, would put the 1.5B shape over 2 GiB.) The nf4 runs read the random
// models as bitsandbytes NF4 checkpoints of random blocks (bench/random-nf4.ts), whose codes the
// loader uploads as they are, so no float is drawn or quantized for a projection: the file takes
// about a minute and a half here instead of eight.
// (dist/bench is rebuilt first whenever its sources changed since it was built: test/setup/dist.ts.)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BENCH_LORA } from '../../bench/common.js';
import { RANDOM_MODELS } from '../../bench/models.js';
import { parseModelConfig } from '../../src/model/config.js';
import type { WeightStorage } from '../../src/model/gpu-weights.js';
import { estimateTrainingMemory } from '../../src/train/memory.js';
import { ensureBuilt } from '../setup/dist.js';

const root = join(import.meta.dirname, '..', '..');
const GiB = 2 ** 30;

interface MemoryRow {
  model: string;
  batch: number;
  seq: number;
  peak_bytes: number;
  estimated_bytes: number;
  weights_bytes: number;
  error?: string;
}

/** `bench --memory-only --checkpoint --json` for these models at one shape: its memory rows. */
function memoryOnly(models: string[], shape: string, weights: WeightStorage): MemoryRow[] {
  const start = performance.now();
  const args = ['--memory-only', '--models', models.join(','), '--shapes', shape, '--weights', weights, '--checkpoint', '--json'];
  const run = spawnSync(process.execPath, ['dist/bench/bench.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 540_000 });
  expect(run.status, `bench ${args.join(' ')}\n${run.stdout}\n${run.stderr}`).toBe(0);
  console.log(`bench ${args.join(' ')}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  const report = JSON.parse(run.stdout.trim().split('\n').pop()!);
  expect([report.engine.weights, report.engine.gradient_checkpointing]).toEqual([weights, true]);
  expect(report.memory.map((m: MemoryRow) => m.model)).toEqual(models);
  return report.memory;
}

/** The row's weights are the estimate's modelBytes for its storage, and its peak the estimate's total. */
function expectEstimated(row: MemoryRow, weights: WeightStorage): void {
  expect(row.error, `${row.model}: ${row.error}`).toBeUndefined();
  const spec = parseModelConfig(RANDOM_MODELS[row.model].config, row.model);
  const estimate = estimateTrainingMemory(spec, BENCH_LORA, row.batch, row.seq, { weightStorage: weights, gradientCheckpointing: true });
  expect(row.weights_bytes, `${row.model} ${weights} weights`).toBe(estimate.modelBytes);
  expect(row.peak_bytes, `${row.model} ${weights} peak`).toBe(row.estimated_bytes);
}

describe('QLoRA training memory (bench --memory-only --weights nf4 --checkpoint, tracked allocations)', () => {
  beforeAll(() => ensureBuilt('bench'), 300_000);

  const bounds: Array<[string, number]> = [['qwen2.5-1.5b', 2], ['llama3.2-1b', 2], ['llama3.2-3b', 3.5]];
  for (const [model, gib] of bounds) {
    it(`${model} at 4 x 256 within ${gib} GiB`, () => {
      const [row] = memoryOnly([model], '4x256', 'nf4');
      console.log(`${model} 4 x 256 nf4 + checkpointing: ${JSON.stringify(row)}`);
      expectEstimated(row, 'nf4');
      expect(row.peak_bytes, `${model} 4 x 256 peak: ${(row.peak_bytes / GiB).toFixed(3)} GiB`).toBeLessThanOrEqual(gib * GiB);
    }, 600_000);
  }

  it('qwen2.5-0.5b at 8 x 256: the nf4 peak at most 0.75 of the f16 peak, its weights smaller', () => {
    const [nf4] = memoryOnly(['qwen2.5-0.5b'], '8x256', 'nf4');
    const [f16] = memoryOnly(['qwen2.5-0.5b'], '8x256', 'f16');
    console.log(`qwen2.5-0.5b 8 x 256 with checkpointing: nf4 ${JSON.stringify(nf4)}, f16 ${JSON.stringify(f16)}`);
    expectEstimated(nf4, 'nf4');
    expectEstimated(f16, 'f16');
    expect(nf4.weights_bytes).toBeLessThan(f16.weights_bytes);
    expect(nf4.peak_bytes / f16.peak_bytes).toBeLessThanOrEqual(0.75);
  }, 600_000);
});
