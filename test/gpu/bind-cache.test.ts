// Bind groups and uniform buffers built once (src/gpu/bind-cache.ts) and the Recorder's counters
// (recordStats): a repeated recording creates nothing, changed params or buffer ranges create one
// entry each, destroying a tensor drops its entries, the LRU bound holds without destroying a
// uniform buffer that an unsubmitted recording still uses, and a training step recorded a second
// time creates bind groups only for AdamW, whose step counter is a parameter.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindCacheOf } from '../../src/gpu/bind-cache.js';
import { diffRecordStats, DISPATCHES_PER_COMMAND_BUFFER, Recorder, recordStats } from '../../src/gpu/kernel.js';
import { residualForwardKernel } from '../../src/gpu/kernels/residual.js';
import { disableProfiling, enableProfiling, takeProfile } from '../../src/gpu/profile.js';
import { createTensor, readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { initLoraAdapter } from '../../src/lora/adapter.js';
import { DEFAULT_LORA } from '../../src/lora/config.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import type { TrainBuffers } from '../../src/model/train-buffers.js';
import { TrainStep } from '../../src/train/step.js';
import { gpu, NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';

const N = 128; // two 256-byte-aligned halves of 64 floats

async function tensors() {
  const ctx = await gpu();
  const a = createTensor(ctx, [N], 'f32', randomArray(N, 1), 'a');
  const b = createTensor(ctx, [N], 'f32', randomArray(N, 2), 'b');
  const out = createTensor(ctx, [N], 'f32', undefined, 'out');
  return { ctx, a, b, out };
}

/** out[0:n] = a[0:n] + b[0:n] for each n, in one recording. */
function record(rec: Recorder, out: Tensor, a: Tensor, b: Tensor, ns: number[]): void {
  for (const n of ns) rec.run(residualForwardKernel, { n }, [out, a, b]);
}

describe('bind-group cache', () => {
  it('records the same launches a second time without creating bind groups or uniform buffers', async () => {
    const { ctx, a, b, out } = await tensors();
    const runOnce = async () => {
      const before = recordStats(ctx);
      const rec = new Recorder(ctx);
      record(rec, out, a, b, [N, N, 64]);
      rec.submit();
      return { stats: diffRecordStats(recordStats(ctx), before), out: await readTensor(ctx, out) };
    };
    const first = await runOnce();
    // Two distinct launches (n = 128 twice, n = 64): two bind groups, each with its uniform buffer.
    expect(first.stats).toMatchObject({ submits: 1, dispatches: 3, bindGroupsCreated: 2, uniformBuffersCreated: 2 });
    const second = await runOnce();
    expect(second.stats).toMatchObject({ submits: 1, dispatches: 3, bindGroupsCreated: 0, uniformBuffersCreated: 0, pipelinesCreated: 0 });
    expect(second.stats.recordMs).toBeGreaterThan(0);
    const [av, bv] = [await readTensor(ctx, a), await readTensor(ctx, b)];
    expect(second.out).toEqual(first.out);
    expect(Array.from(second.out)).toEqual(Array.from(av, (x, i) => Math.fround(x + bv[i])));
    for (const t of [a, b, out]) t.destroy();
  });

  it('hands a long recording to the queue in pieces of DISPATCHES_PER_COMMAND_BUFFER, in order', async () => {
    const ctx = await gpu();
    const n = 2 * DISPATCHES_PER_COMMAND_BUFFER + 3;
    const ones = createTensor(ctx, [N], 'f32', new Float32Array(N).fill(1), 'ones');
    const [x, y] = [createTensor(ctx, [N], 'f32', undefined, 'x'), createTensor(ctx, [N], 'f32', undefined, 'y')];
    const before = recordStats(ctx);
    const rec = new Recorder(ctx);
    // x, y ping-pong: after dispatch i (from 1) the buffer it wrote holds i, which only comes out
    // right if every piece ran after the one before.
    for (let i = 0; i < n; i++) rec.run(residualForwardKernel, { n: N }, i % 2 ? [x, y, ones] : [y, x, ones]);
    rec.submit();
    const stats = diffRecordStats(recordStats(ctx), before);
    expect(stats).toMatchObject({ dispatches: n, submits: 3 });
    expect(Array.from(await readTensor(ctx, n % 2 ? y : x))).toEqual(new Array(N).fill(n));
    for (const t of [ones, x, y]) t.destroy();
  });

  it('reuses the cached bind groups in profiled recordings (a timed pass per dispatch)', async () => {
    const { ctx, a, b, out } = await tensors();
    const rec = new Recorder(ctx);
    record(rec, out, a, b, [N, 64]);
    rec.submit();
    const want = await readTensor(ctx, out);
    const before = recordStats(ctx);
    expect(enableProfiling(ctx)).toBeNull();
    const profiled = new Recorder(ctx);
    record(profiled, out, a, b, [N, 64]);
    profiled.submit();
    disableProfiling(ctx);
    expect((await takeProfile(ctx)).times.get('residual_forward')?.calls).toBe(2);
    expect(diffRecordStats(recordStats(ctx), before)).toMatchObject({ dispatches: 2, bindGroupsCreated: 0, uniformBuffersCreated: 0 });
    expect(await readTensor(ctx, out)).toEqual(want);
    for (const t of [a, b, out]) t.destroy();
  });

  it('creates one entry for changed params and one for a view at another offset', async () => {
    const { ctx, a, b, out } = await tensors();
    const rec0 = new Recorder(ctx);
    record(rec0, out, a, b, [N]);
    rec0.submit();
    let before = recordStats(ctx);
    const rec = new Recorder(ctx);
    record(rec, out, a, b, [N, 100]);
    rec.submit();
    expect(diffRecordStats(recordStats(ctx), before)).toMatchObject({ dispatches: 2, bindGroupsCreated: 1, uniformBuffersCreated: 1 });

    // The same params over the second half of each buffer: a new bind group for the new ranges.
    const half = (t: Tensor) => t.view(64, [64]);
    const fresh = createTensor(ctx, [N], 'f32', undefined, 'fresh');
    before = recordStats(ctx);
    const rec2 = new Recorder(ctx);
    rec2.run(residualForwardKernel, { n: 64 }, [fresh.view(0, [64]), a.view(0, [64]), b.view(0, [64])]);
    rec2.run(residualForwardKernel, { n: 64 }, [half(fresh), half(a), half(b)]);
    rec2.submit();
    expect(diffRecordStats(recordStats(ctx), before)).toMatchObject({ dispatches: 2, bindGroupsCreated: 2, uniformBuffersCreated: 2 });
    expect(await readTensor(ctx, fresh)).toEqual(await readTensor(ctx, out));
    for (const t of [a, b, out, fresh]) t.destroy();
  });

  it('drops the entries of a destroyed tensor; new tensors bind afresh', async () => {
    const { ctx, a, b, out } = await tensors();
    const cache = bindCacheOf(ctx.device);
    const empty = cache.size;
    const rec = new Recorder(ctx);
    record(rec, out, a, b, [N, 10, 20]);
    rec.submit();
    await readTensor(ctx, out);
    expect(cache.size).toBe(empty + 3);
    b.destroy(); // bound by all three entries
    expect(cache.size).toBe(empty);
    a.destroy();
    out.destroy();

    const again = await tensors();
    const before = recordStats(ctx);
    const rec2 = new Recorder(ctx);
    record(rec2, again.out, again.a, again.b, [N, 10, 20]);
    rec2.submit();
    expect(diffRecordStats(recordStats(ctx), before).bindGroupsCreated).toBe(3);
    const [av, bv] = [await readTensor(ctx, again.a), await readTensor(ctx, again.b)];
    expect(Array.from(await readTensor(ctx, again.out))).toEqual(Array.from(av, (x, i) => Math.fround(x + bv[i])));
    expect(cache.size).toBe(empty + 3);
    for (const t of [again.a, again.b, again.out]) t.destroy();
    expect(cache.size).toBe(empty);
  });

  it('holds its LRU bound, and never destroys a uniform buffer an unsubmitted recording uses', async () => {
    const { ctx, a, b, out } = await tensors();
    const cache = bindCacheOf(ctx.device);
    const capacity = cache.capacity;
    cache.capacity = 8;
    try {
      ctx.device.pushErrorScope('validation');
      // `early` binds n = 1..4; `late` then records 60 distinct launches, evicting all of those
      // entries, and is submitted first: early's uniform buffers must survive until its own submit.
      const early = new Recorder(ctx);
      record(early, out, a, b, [1, 2, 3, 4]);
      const late = new Recorder(ctx);
      record(late, out, a, b, Array.from({ length: 60 }, (_, i) => 5 + i));
      expect(cache.size).toBeLessThanOrEqual(8);
      late.submit();
      early.submit();
      // A recording longer than the cache: its own evicted entries stay usable until its submit.
      const long = new Recorder(ctx);
      record(long, out, a, b, Array.from({ length: 40 }, (_, i) => N - i));
      long.submit();
      expect(cache.size).toBeLessThanOrEqual(8);
      const got = await readTensor(ctx, out);
      expect(await ctx.device.popErrorScope()).toBeNull();
      const [av, bv] = [await readTensor(ctx, a), await readTensor(ctx, b)];
      expect(Array.from(got)).toEqual(Array.from(av, (x, i) => Math.fround(x + bv[i])));
    } finally {
      cache.capacity = capacity;
      for (const t of [a, b, out]) t.destroy();
    }
  });
});

describe.skipIf(!SHARED_DIR)(`a training step recorded again${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  beforeAll(async () => {
    model = await LanguageModel.load(await gpu(), folderSource(join(SHARED_DIR!, 'models', 'stories260K')));
  });
  afterAll(() => model?.destroy());

  // With LoRA dropout too: every pass draws new masks, from a step the pass writes into a buffer
  // (train-pass.ts), so the dropout launches keep their bind groups as well.
  for (const dropout of [0, 0.1])
  it(`creates bind groups only for AdamW, in 2 + micro-batches submits (LoRA dropout ${dropout})`, async () => {
    const ctx = await gpu();
    const adapter = initLoraAdapter(model.spec, { ...DEFAULT_LORA, r: 4, alpha: 8, targetModules: 'all-linear', dropout }, 0, 'cache-test');
    const lora = GpuLora.create(ctx, adapter);
    const [B, T] = [2, 8];
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 5) % model.spec.V);
    const batch: TokenBatch = { B, T, ids, labels: ids.slice(), attentionMask: new Int32Array(B * T).fill(1) };
    const step = new TrainStep(ctx, model, lora, B, T);
    expect(!!(step as unknown as { buffers: TrainBuffers }).buffers.dropStep, 'the dropout launches are recorded').toBe(dropout > 0);
    try {
      ctx.device.pushErrorScope('validation');
      const stats = [];
      for (const microBatches of [[batch], [batch], [batch, batch], [batch, batch]]) {
        const before = recordStats(ctx);
        const loss = await step.train(microBatches, 1e-3);
        await ctx.device.queue.onSubmittedWorkDone();
        expect(Number.isFinite(loss)).toBe(true);
        stats.push(diffRecordStats(recordStats(ctx), before));
      }
      expect(await ctx.device.popErrorScope()).toBeNull();
      // step.ts submits one Recorder to zero the gradients, one per micro-batch, one for AdamW.
      expect(stats.map((s) => s.submits)).toEqual([3, 3, 4, 4]);
      expect(stats[0].bindGroupsCreated).toBeGreaterThan(50);
      // From the second step on, AdamW's launch is new (its step counter changes every step); its
      // gradient-norm launches and the training pass's launches are reused, and a second
      // micro-batch of the same shape binds exactly what the first did. Only the third step adds
      // one more: crossentropy_backward's gradient scale, 1 / (tokens over all micro-batches),
      // halves when a step goes from one micro-batch to two.
      expect(stats.slice(1).map((s) => [s.bindGroupsCreated, s.uniformBuffersCreated, s.pipelinesCreated])).toEqual([
        [1, 1, 0],
        [2, 2, 0],
        [1, 1, 0],
      ]);
      const pass = stats[1].dispatches - 3; // a step: one training pass, gradNorm's 2 launches, AdamW's 1
      expect(stats[2].dispatches).toBe(2 * pass + 3);
    } finally {
      step.destroy();
      lora.destroy();
    }
  });
});
