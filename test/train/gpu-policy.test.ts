// The kernels real GPUs take, run here: SwiftShader's adapter normally selects the barrier-free
// variants (src/gpu/policy.ts), so the GPU path of a whole training step (128 × 128
// and 64 × 64 tiled matmuls, subgroup attention, workgroup-tree norms, cross-entropy and gradient
// norm) is exercised by giving the same device the tiled policy of GPUs (test/helpers.ts tiledKernels). The model
// is a random qwen2 (q/k/v biases) wide enough that the 128 × 128 tiles take the big products
// (M = B·T = 256, C = 256, F = 512); its loss and every LoRA gradient must agree with the
// SwiftShader path's, and so must the GPU path with f16 weights and gradient checkpointing with
// the SwiftShader path on the same f16 weights.
import { describe, expect, it } from 'vitest';
import { randomModelSource } from '../../bench/models.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { attentionSubgroupForwardKernel, selectAttention } from '../../src/gpu/kernels/attention.js';
import { Recorder } from '../../src/gpu/kernel.js';
import { useTile128Backward, useTile128Forward } from '../../src/gpu/kernels/matmul/tiles.js';
import { disableProfiling, enableProfiling, takeProfile } from '../../src/gpu/profile.js';
import { readTensor } from '../../src/gpu/tensor.js';
import { initLoraAdapter } from '../../src/lora/adapter.js';
import { DEFAULT_LORA } from '../../src/lora/config.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import type { WeightStorage } from '../../src/model/gpu-weights.js';
import { LanguageModel } from '../../src/model/model.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import { DEFAULT_OPTIMIZER, TrainStep } from '../../src/train/step.js';
import { gpu, randomArray, tiledKernels, withPolicy } from '../helpers.js';

const CONFIG = {
  model_type: 'qwen2',
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
  vocab_size: 320,
};
const [B, T] = [2, 128];

/**
 * A vocabulary above 32,768 makes the logits chunks 64 rows (train-buffers.ts), as at SmolLM2's and
 * Qwen2.5's shapes, so the LM head's dh = dlogits·E takes the 64 × 64 kernel with its sum over the
 * vocabulary split (matmul/select.ts backwardSplits). Narrow and short, to stay quick here.
 */
const WIDE_VOCAB = { ...CONFIG, hidden_size: 64, intermediate_size: 128, vocab_size: 33024 };

function batch(V: number, B: number, T: number): TokenBatch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 97 + 13) % V);
  const labels = Int32Array.from(ids, (id, i) => (i % T < 2 ? -100 : id));
  return { B, T, ids, labels, attentionMask: Array.from({ length: B * T }, (_, i) => (i >= T && i % T >= 100 ? 0 : 1)) };
}

/**
 * Loss and LoRA gradients of one batch, on `ctx`'s kernels (B nonzero so every gradient is), and
 * the names of the kernels that ran.
 */
async function gradients(ctx: GpuContext, weightStorage: WeightStorage, gradientCheckpointing: boolean, config = CONFIG, [B, T] = [2, 128]) {
  const model = await LanguageModel.load(ctx, randomModelSource(config, 3, 'random qwen2'), undefined, { weightStorage });
  const adapter = initLoraAdapter(model.spec, { ...DEFAULT_LORA, r: 16, alpha: 32, targetModules: 'all-linear' }, 0, 'test');
  for (const [i, f] of [...adapter.weights.values()].entries()) f.B.set(randomArray(f.B.length, 100 + i, -0.05, 0.05));
  const lora = GpuLora.create(ctx, adapter);
  const step = new TrainStep(ctx, model, lora, B, T, DEFAULT_OPTIMIZER, { gradientCheckpointing });
  expect(enableProfiling(ctx)).toBeNull();
  try {
    const loss = await step.gradients([batch(model.spec.V, B, T)]);
    disableProfiling(ctx);
    const kernels = new Set((await takeProfile(ctx)).times.keys());
    return { loss, grads: await readTensor(ctx, lora.grads), kernels };
  } finally {
    disableProfiling(ctx);
    step.destroy();
    lora.destroy();
    model.destroy();
  }
}

function expectSameGradients(got: { loss: number; grads: Float32Array }, want: { loss: number; grads: Float32Array }) {
  expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-5);
  const largest = want.grads.reduce((m, g) => Math.max(m, Math.abs(g)), 0);
  expect(largest).toBeGreaterThan(0);
  let worst = 0;
  for (let i = 0; i < want.grads.length; i++) worst = Math.max(worst, Math.abs(got.grads[i] - want.grads[i]));
  expect(worst / largest, 'largest gradient difference, relative to the largest gradient').toBeLessThan(1e-4);
}

describe('the real-GPU kernel path, on SwiftShader', () => {
  it('is what the launchers pick for this model once the device has the tiled policy', async () => {
    const ctx = await gpu();
    const posed = tiledKernels(ctx);
    expect(ctx.policy.kernels).toBe('barrier-free');
    expect(posed.policy.kernels).toBe('tiled');
    expect(selectAttention(posed.policy, 8).kernel.forward === attentionSubgroupForwardKernel).toBe(ctx.features.subgroupId);
    const M = B * T;
    expect(useTile128Forward(posed.policy, { M, N: 512, K: 256 }) && useTile128Backward(posed.policy, { M, N: 512, K: 256 })).toBe(true);
    const small = withPolicy(posed, { workgroupBytes: 16384 });
    expect(useTile128Forward(small.policy, { M, N: 512, K: 256 }), 'not with 16 KiB of workgroup memory').toBe(false);
    expect(new Recorder(posed).ctx).toBe(posed);
  });

  it('gives the loss and LoRA gradients of the SwiftShader path', async () => {
    const ctx = await gpu();
    const onGpuPath = await gradients(tiledKernels(ctx), 'f32', false);
    const onSwiftShaderPath = await gradients(ctx, 'f32', false);
    expectSameGradients(onGpuPath, onSwiftShaderPath);
    const gpuKernels = ['matmul_tile128_forward', 'matmul_tile128_backward', 'matmul_tile64_forward', 'matmul_tile16x128_weight_grad', 'matmul_split_reduce', 'attention_subgroup_forward', 'attention_subgroup_backward_key'];
    for (const k of gpuKernels) expect(onGpuPath.kernels, `the GPU path runs ${k}`).toContain(k);
    // LoRA's update out += s·u·Bᵀ is fused into the base products (linear.ts), so no barrier-free
    // variant runs on the GPU path (the separate update would take matmul_reg4x4_forward).
    for (const k of onGpuPath.kernels) expect(k, 'no barrier-free variant on the GPU path').not.toMatch(/^matmul_reg4x4_(forward|backward|weight_grad)$/);
    for (const k of gpuKernels) expect(onSwiftShaderPath.kernels).not.toContain(k);
  });

  it('with f16 weights and gradient checkpointing, too', async () => {
    const ctx = await gpu();
    expectSameGradients(await gradients(tiledKernels(ctx), 'f16', true), await gradients(ctx, 'f16', false));
  });

  it('with a large vocabulary, whose LM-head gradient splits its sum over the vocabulary', async () => {
    const ctx = await gpu();
    const onGpuPath = await gradients(tiledKernels(ctx), 'f32', false, WIDE_VOCAB, [1, 72]);
    expectSameGradients(onGpuPath, await gradients(ctx, 'f32', false, WIDE_VOCAB, [1, 72]));
    // 72 rows: no LoRA weight gradient splits (that takes 256), so the reduction ran for the LM head.
    expect(onGpuPath.kernels).toContain('matmul_split_reduce');
    expect(onGpuPath.kernels).not.toContain('matmul_weight_grad_split');
  });
});
