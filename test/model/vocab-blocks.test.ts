// Vocabulary matrices larger than one binding (src/model/vocab-blocks.ts): how they are split, and
// a model whose embedding exceeds a (test-lowered) binding limit loading, training and generating
// as the unsplit model does, with the memory estimate counting the blocks. createTensor refuses any
// buffer over ctx.limits.maxStorageBufferBindingSize, so under the lowered limit nothing larger
// than it can be allocated unnoticed: the embedding, an untied head and the logits chunk all split.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { StepEvent } from '../../src/train/events.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { gpuMemory, resetPeak } from '../../src/gpu/tensor.js';
import { importPeft } from '../../src/lora/peft.js';
import { parseModelConfig } from '../../src/model/config.js';
import { planWeights } from '../../src/model/gpu-weights.js';
import { folderSource, resolveModelSource } from '../../src/model/source-node.js';
import { memorySource } from '../../src/model/source.js';
import { logitsChunkRows, plannedBytes } from '../../src/model/train-buffer-plan.js';
import { VOCAB_BLOCK_ALIGN, vocabBlockRows } from '../../src/model/vocab-blocks.js';
import { runGoldenCase } from '../../src/train/golden.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR, tiledKernels, withBindingLimit } from '../helpers.js';

describe('vocabBlockRows', () => {
  it('keeps a matrix that fits one binding whole', () => {
    expect(vocabBlockRows('embed', 512, 64, 'f32', 512 * 64 * 4)).toEqual([512]);
    expect(vocabBlockRows('embed', 512, 64, 'f32', Infinity)).toEqual([512]);
  });

  it('splits into the fewest blocks that fit, each a multiple of 64 rows but the last', () => {
    // 64 rows of 64 f32 are 16 KiB: 48 KiB hold 192 rows, so 512 rows need 3 blocks.
    expect(vocabBlockRows('embed', 512, 64, 'f32', 48 << 10)).toEqual([192, 192, 128]);
    // As even as the alignment allows: 1000 rows in blocks of at most 512 → 2 of 512 and 488.
    expect(vocabBlockRows('embed', 1000, 8, 'f32', 512 * 8 * 4)).toEqual([512, 488]);
    // f16 rows take half: the same limit holds twice the rows.
    expect(vocabBlockRows('embed', 1000, 8, 'f16', 256 * 8 * 4)).toEqual([512, 488]);
    // Gemma 3 1B's tied embedding in f32 (1.2 GB) on a GPU binding 1 GiB: two blocks.
    const gemma = vocabBlockRows('embed', 262_144, 1152, 'f32', 2 ** 30);
    expect(gemma).toEqual([131_072, 131_072]);
    for (const rows of vocabBlockRows('lmHead', 151_936, 896, 'f32', 128 << 20).slice(0, -1)) expect(rows % VOCAB_BLOCK_ALIGN).toBe(0);
  });

  it('refuses a limit below 64 rows, naming the matrix', () => {
    expect(() => vocabBlockRows('lmHead', 512, 64, 'f32', 1000)).toThrow(/lmHead \[512, 64\] cannot be split.*1000 bytes: 64 rows of it take 16384/);
  });
});

describe('logitsChunkRows under a binding limit', () => {
  it('keeps the usual chunk where it fits, else fewer rows that keep the chunks of h aligned', () => {
    expect(logitsChunkRows(512, 64, 64)).toBe(64);
    expect(logitsChunkRows(512, 64, 64, 48 << 10)).toBe(24); // 2 KiB a row of logits
    expect(logitsChunkRows(300, 64, 48, 24 << 10)).toBe(20); // rows a multiple of 4: 4 · 48 · 4 B = 768 B, a multiple of 256
    // C = 50: chunks must start at multiples of 32 rows, and 32 rows of logits do not fit.
    expect(() => logitsChunkRows(300, 64, 50, 24 << 10)).toThrow(/logits of 32 rows of a 300-token vocabulary take 38400 bytes, more than this GPU binds at once \(24576\)/);
  });
});

describe('planWeights with a binding limit', () => {
  const stories = parseModelConfig({ model_type: 'llama', vocab_size: 512, hidden_size: 64, intermediate_size: 172, num_hidden_layers: 1, num_attention_heads: 8, num_key_value_heads: 4, max_position_embeddings: 64, tie_word_embeddings: false }, 'config.json');

  it('plans the embedding and an untied head as blocks of rows, in the same bytes as the whole', () => {
    for (const storage of ['f32', 'f16'] as const) {
      const whole = planWeights(stories, storage);
      const split = planWeights(stories, storage, 24 << 10);
      expect(whole.embed.map((b) => [b.name, b.shape])).toEqual([['embed', [512, 64]]]);
      const blocks = storage === 'f32' ? [[0, 64], [1, 64], [2, 64], [3, 64], [4, 64], [5, 64], [6, 64], [7, 64]] : [[0, 192], [1, 192], [2, 128]];
      const rows = storage === 'f32' ? [64, 64, 64, 64, 64, 64, 64, 64] : [192, 192, 128];
      expect(split.embed.map((b) => [b.name, b.shape, b.dtype])).toEqual(rows.map((r, i) => [`embed.${i}`, [r, 64], storage]));
      expect(split.lmHead!.map((b) => b.name)).toEqual(blocks.map(([i]) => `lmHead.${i}`));
      expect(plannedBytes(split).total).toBe(plannedBytes(whole).total);
      for (const b of [...split.embed, ...split.lmHead!]) expect(plannedBytes(b).total).toBeLessThanOrEqual(24 << 10);
    }
  });
});

/**
 * Binding limits under which a golden case's vocabulary splits while the all-position logits
 * [2, 16, V] it compares still fit one binding: stories260K's tied embedding [512, 64] (128 KiB in
 * f32) in 2 blocks of 256 rows; tiny-random-qwen2's embedding and untied head [300, 48] (56 KiB
 * each) in blocks of 192 and 108 rows.
 */
const GOLDEN_LIMITS = { 'stories260K-all-linear': 96 << 10, 'qwen2-attn': 40 << 10 };
/**
 * The training run's limit: stories260K's embedding in 3 blocks (192, 192, 128 rows) and its
 * logits chunk 24 rows, with every other buffer of a one-row batch within it.
 */
const STORIES_LIMIT = 48 << 10;

describe.skipIf(!SHARED_DIR)(`a model larger than the binding limit${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await gpu();
  });

  // The golden cases under the lowered limit: every check against PyTorch passes, and every tensor
  // computed is the unsplit run's bit for bit on these (barrier-free) kernels: each logit is the
  // same dot product, written by its block, and the head's dh = Σ_b dlogits_b·E_b continues one
  // sum from block to block (matmulBackward's continueSum).
  for (const [name, limit] of Object.entries(GOLDEN_LIMITS)) {
    it(`passes golden case ${name} with its vocabulary in blocks, every tensor bit for bit as unsplit`, async () => {
      const caseDir = join(SHARED_DIR!, 'golden', name);
      const run = async (c: GpuContext) => {
        const caseSource = folderSource(caseDir);
        const { model } = JSON.parse(new TextDecoder().decode(await caseSource.read('case.json'))) as { model: string };
        return runGoldenCase(c, caseSource, folderSource(join(SHARED_DIR!, 'models', model)));
      };
      const unsplit = await run(ctx);
      const split = await run(withBindingLimit(ctx, limit));
      expect(split.missing).toEqual([]);
      expect(split.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.error}`)).toEqual([]);
      expect(split.results.map((r) => r.name)).toEqual(unsplit.results.map((r) => r.name));
      expect([...split.computed.keys()]).toEqual([...unsplit.computed.keys()]);
      for (const [key, t] of unsplit.computed) expect(split.computed.get(key)!.data, key).toEqual(t.data);
    }, 300_000);
  }

  it('on the GPUs\' tiled kernels too: qwen2-attn in blocks gives the unsplit logits bit for bit and its gradients to float32 rounding', async () => {
    const caseSource = folderSource(join(SHARED_DIR!, 'golden', 'qwen2-attn'));
    const modelSource = folderSource(join(SHARED_DIR!, 'models', 'tiny-random-qwen2'));
    const tiled = tiledKernels(ctx);
    const unsplit = await runGoldenCase(tiled, caseSource, modelSource);
    const split = await runGoldenCase(withBindingLimit(tiled, GOLDEN_LIMITS['qwen2-attn']), caseSource, modelSource);
    for (const key of ['logits.base', 'logits.lora']) expect(split.computed.get(key)!.data, key).toEqual(unsplit.computed.get(key)!.data);
    // The head's dh adds the blocks' sums (continueSum continues one sum on the barrier-free kernels only).
    const grads = [...unsplit.computed].filter(([key]) => key.startsWith('grad.'));
    expect(grads.length).toBeGreaterThan(0);
    for (const [key, t] of grads) {
      const got = split.computed.get(key)!.data;
      const largest = Math.max(...t.data.map(Math.abs));
      expect(Math.max(...t.data.map((v, i) => Math.abs(v - got[i]))) / largest, key).toBeLessThan(1e-5);
    }
    expect(split.results.filter((r) => r.name.startsWith('grad.') && !r.pass)).toEqual([]);
  }, 300_000);

  it('loads stories260K in blocks, trains two steps and generates as the unsplit model does, the estimate counting the blocks', async () => {
    const PAIRS = [
      ['What color is the sky?', 'The sky is blue.'],
      ['What does the cat say?', 'The cat says meow.'],
      ['Where does the fish live?', 'The fish lives in the water.'],
      ['What color is the grass?', 'The grass is green.'],
    ];
    const DATA = PAIRS.map(([input, output]) => JSON.stringify({ input, output })).join('\n');
    const CONFIG = { maxSteps: 2, batchSize: 1, learningRate: 1e-2, valSplit: 0, seed: 5, lora: { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] } };
    const dir = join(SHARED_DIR!, 'models', 'stories260K');
    const runOn = async (c: GpuContext) => {
      const engine = new Engine({ ctx: c, resolvePath: (p) => resolveModelSource(p) });
      try {
        const before = gpuMemory(c).current;
        const info = await engine.loadModel(dir);
        const loaded = gpuMemory(c).current - before;
        const blocks = engine.model!.weights.weights.embed.map((b) => b.shape[0]);
        const report = await engine.estimateMemory(CONFIG, DATA);
        resetPeak(c);
        const start = gpuMemory(c).current;
        const steps: StepEvent[] = [];
        await engine.train(DATA, CONFIG, { onStep: (e) => void steps.push(e) });
        const trainPeak = gpuMemory(c).peak - start;
        const adapter = await importPeft(memorySource(await engine.exportAdapter()), engine.model!.spec);
        const answers = [];
        for (const [input] of PAIRS) answers.push((await engine.generate(input, { maxNewTokens: 16 })).text);
        return { info, loaded, blocks, report, steps, trainPeak, adapter, answers };
      } finally {
        await engine.dispose();
      }
    };
    const unsplit = await runOn(ctx);
    const split = await runOn(withBindingLimit(ctx, STORIES_LIMIT));
    expect(unsplit.blocks).toEqual([512]);
    expect(split.blocks).toEqual([192, 192, 128]);
    // The same bytes on the GPU, as the estimate says, and every buffer within the limit.
    expect(split.loaded).toBe(unsplit.loaded);
    expect(split.report.estimate.modelBytes).toBe(split.loaded);
    expect(split.report.fits).toBe(true);
    expect(split.report.estimate.largestBufferBytes).toBeLessThanOrEqual(STORIES_LIMIT);
    expect(unsplit.report.estimate.largestBufferBytes).toBeGreaterThan(STORIES_LIMIT); // the embedding, whole
    // Training allocates exactly the estimate's adapter and step buffers, the logits chunk smaller under the limit.
    for (const r of [split, unsplit]) expect(r.trainPeak).toBe(r.report.estimate.adapterBytes + r.report.estimate.activationBytes);
    expect(split.report.estimate.activationBytes).toBeLessThan(unsplit.report.estimate.activationBytes);
    // The same losses, adapter and answers, bit for bit (see the golden cases above).
    expect(split.steps.map((e) => e.loss)).toEqual(unsplit.steps.map((e) => e.loss));
    expect([...split.adapter.weights.keys()]).toEqual([...unsplit.adapter.weights.keys()]);
    for (const [path, factors] of unsplit.adapter.weights) expect(split.adapter.weights.get(path), path).toEqual(factors);
    expect(split.answers).toEqual(unsplit.answers);
  }, 300_000);
});
