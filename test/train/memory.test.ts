// The training-memory estimate (src/train/memory.ts) at SmolLM2-135M's real shape, without a GPU:
// attention keeps O(T) per query row (the log-sum-exp, never a T × T score matrix), so the
// activation memory grows linearly with the sequence length; gradient checkpointing keeps one
// layer's block activations instead of L, and the logits chunk at its small size (Qwen2.5-1.5B's
// at 4 x 256, with nf4 weights, then fits 2 GiB); f16 weight storage halves the weight matrices;
// nf4 and q8 store the projections in 9 words per block of 64 or 32 values.
// (test/train/checkpointing.test.ts checks the estimate against the bytes a TrainStep allocates.)
import { describe, expect, it } from 'vitest';
import { QWEN25_15B, SMOLLM2_135M } from '../../bench/models.js';
import { BENCH_LORA } from '../../bench/common.js';
import { parseModelConfig } from '../../src/model/config.js';
import { resolveLoraModules } from '../../src/lora/config.js';
import { logitsChunkRows, plannedBytes, planLayerBuffers } from '../../src/model/train-buffer-plan.js';
import { estimateTrainingMemory, loraAdapterShape, modelBytes, modelElements } from '../../src/train/memory.js';

const spec = parseModelConfig(SMOLLM2_135M, 'SmolLM2-135M config');
const activations = (T: number, gradientCheckpointing = false) =>
  estimateTrainingMemory(spec, BENCH_LORA, 1, T, { gradientCheckpointing }).activationBytes;

describe('training memory at SmolLM2-135M shape', () => {
  it('grows linearly with the sequence length (attention saves O(T), not T × T)', () => {
    // Between 128 and 512 positions, and from 1,024 on (where the logits chunk takes its larger
    // size, train-buffers.ts logitsChunkRows).
    for (const ckpt of [false, true]) {
      for (const T0 of [128, 1024]) {
        const [a, b, c] = [T0, 2 * T0, 4 * T0].map((T) => activations(T, ckpt));
        expect(c - b).toBe(2 * (b - a));
      }
    }
    // A T × T score matrix per head and layer would be 30 · 9 · 1024² · 4 bytes = 1.1 GB at T = 1024.
    expect(activations(1024)).toBeLessThan(1.4e9);
  });

  it('with gradient checkpointing keeps the logits chunk small at a large batch: Qwen2.5-1.5B at 4 x 256 with nf4 weights within 2 GiB', () => {
    // The 256-row chunk of a large batch (148 MiB of logits at 151,936 tokens) is a speed choice
    // that checkpointing, a choice of memory, does not take: 64 rows (37 MiB).
    const qwen = parseModelConfig(QWEN25_15B, 'Qwen2.5-1.5B config');
    const at = (gradientCheckpointing: boolean) => estimateTrainingMemory(qwen, BENCH_LORA, 4, 256, { weightStorage: 'nf4', gradientCheckpointing });
    const chunkBytes = (rows: number) => 4 * rows * qwen.V;
    const withCkpt = at(true);
    expect(withCkpt.total).toBeLessThanOrEqual(2 * 2 ** 30);
    // Checkpointing saves L − 1 layers of block buffers and 192 rows of logits chunk.
    const layer = plannedBytes(planLayerBuffers(qwen, 4, 256, loraAdapterShape(BENCH_LORA, resolveLoraModules(qwen, BENCH_LORA)), 'probe')).total;
    expect(at(false).activationBytes - withCkpt.activationBytes).toBe((qwen.L - 1) * layer + chunkBytes(256) - chunkBytes(64));
    expect(at(false).total - chunkBytes(256) + chunkBytes(64) - (qwen.L - 1) * layer).toBe(withCkpt.total);
  });

  it('with gradient checkpointing keeps one layer of block activations instead of L', () => {
    // (Less the logits chunk's difference, which the large batch of T = 1024 rows has.)
    const chunks = (T: number) => 4 * spec.V * (logitsChunkRows(spec.V, T, spec.C) - logitsChunkRows(spec.V, T, spec.C, Infinity, true));
    expect(chunks(1024)).toBe(4 * spec.V * 192);
    const perLayer = (T: number) => (activations(T) - activations(T, true) - chunks(T)) / (spec.L - 1);
    expect(Number.isInteger(perLayer(256))).toBe(true);
    expect(perLayer(1024) - perLayer(512)).toBe(2 * (perLayer(512) - perLayer(256))); // linear in T too
    expect(activations(256, true)).toBeLessThan(0.25 * activations(256));
  });

  it('with f16 weights stores the matrices in half the bytes', () => {
    const f32 = modelBytes(spec, 'f32');
    expect(f32).toBe(4 * modelElements(spec).total);
    const f16 = modelBytes(spec, 'f16');
    expect(f16 / f32).toBeGreaterThan(0.5);
    expect(f16 / f32).toBeLessThan(0.51); // only norms and RoPE tables stay f32
    expect(estimateTrainingMemory(spec, BENCH_LORA, 8, 256, { weightStorage: 'f16' }).modelBytes).toBe(f16);
  });

  it('with nf4 and q8 weights stores the projections in blocks, the embedding in f16', () => {
    // Projections: L · (C·(NH·HS + 2·KV·HS) + NH·HS·C + 3·C·F) elements; SmolLM2's C and F are multiples of 64.
    const { C, NH, KV, HS, F, L } = spec;
    const projections = L * (C * (NH * HS + 2 * KV * HS) + NH * HS * C + 3 * C * F);
    const f16 = modelBytes(spec, 'f16');
    expect(modelBytes(spec, 'nf4')).toBe(f16 - 2 * projections + (projections / 64) * 36);
    expect(modelBytes(spec, 'q8')).toBe(f16 - 2 * projections + (projections / 32) * 36);
    for (const storage of ['nf4', 'q8'] as const) expect(estimateTrainingMemory(spec, BENCH_LORA, 8, 256, { weightStorage: storage }).modelBytes).toBe(modelBytes(spec, storage));
  });
});
