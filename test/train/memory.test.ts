// The training-memory estimate (src/train/memory.ts) at SmolLM2-135M's real shape, without a GPU:
// attention keeps O(T) per query row (the log-sum-exp, never a T × T score matrix), so the
// activation memory grows linearly with the sequence length; gradient checkpointing keeps one
// layer's block activations instead of L; f16 weight storage halves the weight matrices; nf4 and
// q8 store the projections in 9 words per block of 64 or 32 values.
// (test/train/checkpointing.test.ts checks the estimate against the bytes a TrainStep allocates.)
import { describe, expect, it } from 'vitest';
import { SMOLLM2_135M } from '../../bench/models.js';
import { BENCH_LORA } from '../../bench/common.js';
import { parseModelConfig } from '../../src/model/config.js';
import { estimateTrainingMemory, modelBytes, modelElements } from '../../src/train/memory.js';

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

  it('with gradient checkpointing keeps one layer of block activations instead of L', () => {
    const perLayer = (T: number) => (activations(T) - activations(T, true)) / (spec.L - 1);
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
