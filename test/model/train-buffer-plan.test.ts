// The plan of a training step's buffers (src/model/train-buffer-plan.ts), without a GPU: one
// uniquely named tensor per TrainBuffers field (ids, masks and loss rows u32, targets i32, the rest
// f32), L sets of block buffers or, with checkpointing, one shared set; a u buffer [M, R] per
// adapted projection kind; the dropout scratch [M, Kd] only when some update drops its input; and
// the LoRA config's view of the adapter (train/memory.ts loraAdapterShape) that the estimate plans
// with. (test/train/checkpointing.test.ts checks that createTrainBuffers allocates exactly a plan.)
import { describe, expect, it } from 'vitest';
import { SMOLLM2_135M } from '../../bench/models.js';
import { resolveLoraModules, type LoraConfig } from '../../src/lora/config.js';
import { parseModelConfig } from '../../src/model/config.js';
import { LOGITS_CHUNK_MIN_ROWS, logitsChunkRows, plannedBytes, plannedTensors, planLayerBuffers, planTrainBuffers, type AdapterShape } from '../../src/model/train-buffer-plan.js';
import { estimateTrainingMemory, loraAdapterShape } from '../../src/train/memory.js';

const smollm = parseModelConfig(SMOLLM2_135M, 'SmolLM2-135M config');
const gpt2 = parseModelConfig({ model_type: 'gpt2', vocab_size: 1000, n_embd: 32, n_head: 4, n_layer: 5, n_positions: 512 }, 'a tiny gpt2 config');
const lora = (targetModules: LoraConfig['targetModules'], dropout = 0): LoraConfig => ({ r: 8, alpha: 16, targetModules, useRslora: false, dropout });
const B = 3;
const T = 20;
const M = B * T;

describe('planTrainBuffers', () => {
  const adapter: AdapterShape = { kinds: ['q', 'v'], R: 8, dropoutWidth: 0 };

  it('names each tensor once, with its element type', () => {
    for (const checkpoint of [false, true]) {
      const tensors = plannedTensors(planTrainBuffers(smollm, B, T, { ...adapter, dropoutWidth: smollm.C }, { checkpoint }));
      expect(new Set(tensors.map((t) => t.name)).size).toBe(tensors.length);
      const notF32 = Object.fromEntries(tensors.filter((t) => t.dtype !== 'f32').map((t) => [t.name, t.dtype]));
      expect(notF32).toEqual({ ids: 'u32', mask: 'u32', targets: 'i32', lossRows: 'u32', dropStep: 'u32' });
      expect(tensors.filter((t) => t.name.startsWith('res.'))).toHaveLength(smollm.L + 1);
    }
  });

  it('with checkpointing plans one shared set of block buffers instead of L, and at a small batch nothing else changes', () => {
    const saved = planTrainBuffers(smollm, B, T, adapter);
    const shared = planTrainBuffers(smollm, B, T, adapter, { checkpoint: true });
    expect(saved.layers.map((l) => l.h1.name)).toEqual(Array.from({ length: smollm.L }, (_, l) => `layer.${l}.h1`));
    expect(shared.layers.map((l) => l.h1.name)).toEqual(['layer.shared.h1']);
    const layer = plannedBytes(planLayerBuffers(smollm, B, T, adapter, 'probe')).total;
    expect(plannedBytes(saved).total - plannedBytes(shared).total).toBe((smollm.L - 1) * layer);
    const { layers: _a, checkpoint: _b, ...restSaved } = saved;
    const { layers: _c, checkpoint: _d, ...restShared } = shared;
    expect(restShared).toEqual(restSaved);
  });

  it('gives a large batch logits chunks of LOGITS_CHUNK_MIN_ROWS rows, but keeps them small with checkpointing', () => {
    // Qwen2.5's 151,936-token vocabulary at 4 × 256 rows: 256-row chunks (148 MiB) without
    // checkpointing, 64-row ones (37 MiB) with it; below 4 · 256 rows, 64 either way.
    const V = 151936;
    const qwen = { ...smollm, V };
    for (const [rows, saved, shared] of [[1024, LOGITS_CHUNK_MIN_ROWS, 64], [4096, LOGITS_CHUNK_MIN_ROWS, 64], [1023, 64, 64], [60, 64, 64]]) {
      expect([logitsChunkRows(V, rows, qwen.C), logitsChunkRows(V, rows, qwen.C, Infinity, true)], `${rows} rows`).toEqual([saved, shared]);
    }
    const [withoutCkpt, withCkpt] = [false, true].map((checkpoint) => planTrainBuffers(qwen, 4, 256, adapter, { checkpoint }));
    expect([withoutCkpt.chunkRows, withCkpt.chunkRows]).toEqual([LOGITS_CHUNK_MIN_ROWS, 64]);
    expect(withCkpt.logitsChunk.shape).toEqual([64, V]);
    // A binding limit still bounds the small chunk: 50 rows of 151,936 f32 logits fit 29 MiB (C = 576 needs no row alignment).
    expect(planTrainBuffers(qwen, 4, 256, adapter, { checkpoint: true, maxBindingBytes: 29 << 20 }).chunkRows).toBe(50);
  });

  it('plans a u buffer [M, R] per adapted kind, dU [M, R], the logits chunk, and the dropout scratch only with dropout', () => {
    const plan = planTrainBuffers(smollm, B, T, adapter);
    for (const layer of plan.layers) {
      expect(Object.keys(layer.u)).toEqual(['q', 'v']);
      expect(layer.u.q!.shape).toEqual([M, 8]);
    }
    expect(plan.dU.shape).toEqual([M, 8]);
    expect(plan.chunkRows).toBe(logitsChunkRows(smollm.V, M, smollm.C));
    expect(plan.logitsChunk.shape).toEqual([plan.chunkRows, smollm.V]);
    expect(plan.dropScratch).toBeUndefined();
    expect(plan.dropStep).toBeUndefined();
    const dropped = planTrainBuffers(smollm, B, T, { ...adapter, dropoutWidth: smollm.F });
    expect(dropped.dropScratch!.shape).toEqual([M, smollm.F]);
    expect(dropped.dropStep!.shape).toEqual([1]);
    expect(plannedBytes(dropped).total - plannedBytes(plan).total).toBe(4 * (M * smollm.F + 1));
    // Without an adapter: no u buffers, and dU one column wide.
    const none = planTrainBuffers(smollm, B, T, { kinds: [], R: 1, dropoutWidth: 0 });
    expect(none.layers[0].u).toEqual({});
    expect(none.dU.shape).toEqual([M, 1]);
  });

  it('keeps GPT-2 one-row gate and q/k-norm buffers, and the largest buffer is the largest planned', () => {
    const plan = planTrainBuffers(gpt2, B, T, adapter);
    expect(plan.layers[0].gate.shape).toEqual([1, gpt2.F]);
    expect(plan.layers[0].qn.shape).toEqual([1, gpt2.NH * gpt2.HS]);
    expect(plan.layers[0].rstdK.shape).toEqual([1]);
    const largest = Math.max(...plannedTensors(plan).map((t) => 4 * t.shape.reduce((a, b) => a * b, 1)));
    expect(plannedBytes(plan).largest).toBe(largest);
    expect(plan.layers[0].oOut).toBeUndefined();
  });

  it("plans Gemma 3's post-norm buffers (the o output, the normed scratch, two rstds), and only Gemma's", () => {
    const gemma = parseModelConfig(
      { model_type: 'gemma3_text', vocab_size: 50, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8 },
      'a tiny gemma3 config',
    );
    const layer = planTrainBuffers(gemma, B, T, adapter).layers[1];
    expect([layer.oOut?.shape, layer.post?.shape, layer.rstdPost1?.shape, layer.rstdPost2?.shape]).toEqual([[M, 16], [M, 16], [M], [M]]);
    expect(layer.oOut?.name).toBe('layer.1.oOut');
    expect(planTrainBuffers(smollm, B, T, adapter).layers[0].post).toBeUndefined();
  });
});

describe('loraAdapterShape (the adapter the memory estimate plans for)', () => {
  const shape = (spec: typeof smollm, c: LoraConfig) => loraAdapterShape(c, resolveLoraModules(spec, c));

  it('gives every adapted projection kind, the rank, and the widest dropped input', () => {
    expect(shape(smollm, lora('all-linear'))).toEqual({ kinds: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], R: 8, dropoutWidth: 0 });
    expect(shape(smollm, lora('all-linear', 0.1)).dropoutWidth).toBe(smollm.F); // down_proj's input
    expect(shape(smollm, lora(['q_proj', 'v_proj'], 0.1))).toEqual({ kinds: ['q', 'v'], R: 8, dropoutWidth: smollm.C });
    // GPT-2's fused c_attn adapts q, k and v (three u buffers).
    expect(shape(gpt2, lora(['c_attn']))).toEqual({ kinds: ['q', 'k', 'v'], R: 8, dropoutWidth: 0 });
  });

  it('is what the estimate sums: its activations are the bytes of that plan', () => {
    for (const checkpoint of [false, true]) {
      const c = lora('all-linear', 0.05);
      const planned = plannedBytes(planTrainBuffers(smollm, B, T, shape(smollm, c), { checkpoint })).total;
      expect(estimateTrainingMemory(smollm, c, B, T, { gradientCheckpointing: checkpoint }).activationBytes).toBe(planned);
    }
  });
});
