// weightStorage 'f16': the frozen matrices (projections, embedding, GPT-2's positions) stored as
// f16 and widened to f32 in the kernels. A model loaded that way must compute what the f32 model
// computes from a checkpoint whose matrices were rounded to f16 on the CPU (same values, same f32
// arithmetic): the same logits and the same LoRA gradients, to ~1e-5. Its weights take about half
// the GPU memory, exactly 4·(elements) − 2·(matrix elements) bytes, and training on it lowers the
// loss. On stories260K (Llama: tied head, RoPE, GQA, SwiGLU), tiny-random-qwen2 (an untied LM
// head, q/k/v biases that stay f32) and tiny-random-gpt2 (learned positions, fused q/k/v in the
// checkpoint, more biases).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { roundToF16 } from '../../src/gpu/f16.js';
import { gpuMemory, readTensor } from '../../src/gpu/tensor.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import type { ModelSpec } from '../../src/model/config.js';
import { forward } from '../../src/model/forward.js';
import { LanguageModel } from '../../src/model/model.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { folderSource, resolveModelSource } from '../../src/model/source-node.js';
import { memorySource } from '../../src/model/source.js';
import type { TokenBatch } from '../../src/model/train-pass.js';
import { modelBytes, modelElements } from '../../src/train/memory.js';
import { DEFAULT_OPTIMIZER, TrainStep } from '../../src/train/step.js';
import { expectClose, gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

/** The checkpoint tensors that f16 storage keeps as f16 (Llama and GPT-2 names). */
const MATRIX = /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj|c_attn|c_proj|c_fc)\.weight$|(embed_tokens|wte|wpe|lm_head)\.weight$/;

/** The model folder in memory, with every MATRIX tensor of model.safetensors rounded to f16 (stored as F32). */
async function roundedSource(dir: string) {
  const files: Record<string, Uint8Array> = {};
  for (const f of readdirSync(dir)) if (f !== 'model.safetensors') files[f] = readFileSync(join(dir, f));
  const source = folderSource(dir);
  const header = await readSafetensorsHeader(source, 'model.safetensors');
  const tensors: TensorToWrite[] = [];
  let rounded = 0;
  for (const [name, info] of header.tensors) {
    let data = await readTensorF32(source, header, name);
    if (MATRIX.test(name)) {
      data = Float32Array.from(data, roundToF16);
      rounded++;
    }
    tensors.push({ name, dtype: 'F32', shape: info.shape, data });
  }
  files['model.safetensors'] = writeSafetensors(tensors);
  return { source: memorySource(files, `${dir} (matrices rounded to f16)`), rounded };
}

/**
 * The GPU bytes of a model's weights with f16 storage: 4 bytes an element, minus 2 for each
 * element of the matrices stored as f16 (each of which has an even number of elements here,
 * C being even, so no half word is padded).
 */
function f16ModelBytes(spec: ModelSpec): number {
  const { C, NH, KV, HS, F, V, L } = spec;
  const gpt2 = spec.arch === 'gpt2';
  const matrices =
    L * (2 * C * NH * HS + 2 * C * KV * HS + (gpt2 ? 2 : 3) * C * F) +
    V * C * (spec.tieWordEmbeddings ? 1 : 2) +
    (gpt2 ? spec.maxPositions * C : 0);
  return 4 * modelElements(spec).total - 2 * matrices;
}

/** Loads a model and returns it with the GPU bytes the load added. */
async function load(source: Parameters<typeof LanguageModel.load>[1], weightStorage: 'f32' | 'f16') {
  const ctx = await gpu();
  const before = gpuMemory(ctx).current;
  const model = await LanguageModel.load(ctx, source, undefined, { weightStorage });
  return { model, bytes: gpuMemory(ctx).current - before };
}

const B = 2;
const T = 12;
const ids = (V: number, k = 0) => Array.from({ length: B * T }, (_, i) => (i * 37 + 11 * k + 5) % V);

const CASES = [
  ['stories260K', 'stories260K-all-linear'],
  ['tiny-random-qwen2', 'qwen2-attn'],
  ['tiny-random-gpt2', 'gpt2-attn-mlp'],
];

for (const [modelName, adapterName] of CASES) {
  describe.skipIf(!SHARED_DIR)(`f16 weight storage: ${modelName}${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
    const dir = SHARED_DIR ? join(SHARED_DIR, 'models', modelName) : '';
    let f16: Awaited<ReturnType<typeof load>>;
    let rounded: Awaited<ReturnType<typeof load>>;
    let plain: Awaited<ReturnType<typeof load>>;
    beforeAll(async () => {
      const r = await roundedSource(dir);
      expect(r.rounded, 'matrices rounded in the checkpoint').toBeGreaterThan(0);
      f16 = await load(folderSource(dir), 'f16');
      rounded = await load(r.source, 'f32');
      plain = await load(folderSource(dir), 'f32');
    });
    afterAll(() => {
      for (const m of [f16, rounded, plain]) m?.model.destroy();
    });

    it('stores the matrices as f16 and the norms as f32, in about half the memory', () => {
      const w = f16.model.weights.weights;
      expect(f16.model.weightStorage).toBe('f16');
      expect(w.embed.map((b) => b.dtype)).toEqual(['f16']);
      expect(w.layers[0].up.dtype).toBe('f16');
      expect(w.layers[0].attnNorm.dtype).toBe('f32');
      expect(w.finalNorm.dtype).toBe('f32');
      expect(w.lmHead.map((b) => b.dtype)).toEqual(['f16']);
      expect(w.lmHead === w.embed).toBe(f16.model.spec.tieWordEmbeddings);
      if (w.positions) expect(w.positions.dtype).toBe('f16');
      if (w.layers[0].qBias) expect(w.layers[0].qBias.dtype).toBe('f32');
      expect(plain.bytes).toBe(4 * modelElements(plain.model.spec).total);
      expect(f16.bytes).toBe(f16ModelBytes(f16.model.spec));
      expect(modelBytes(f16.model.spec, 'f16'), 'the memory estimate (train/memory.ts)').toBe(f16.bytes);
      expect(modelBytes(plain.model.spec, 'f32')).toBe(plain.bytes);
      console.log(`${modelName}: weights ${plain.bytes} B as f32, ${f16.bytes} B with f16 storage (${(f16.bytes / plain.bytes).toFixed(3)})`);
      expect(f16.bytes / plain.bytes).toBeLessThan(0.56);
    });

    it('gives the logits of the f32 model with f16-rounded matrices', async () => {
      const ctx = await gpu();
      const input = ids(f16.model.spec.V);
      const run = (m: LanguageModel) => forward(ctx, m.weights, m.createState(B, T), input, T, { allLogits: true });
      const [got, want, orig] = [await run(f16.model), await run(rounded.model), await run(plain.model)];
      let largest = 0;
      for (const x of want) largest = Math.max(largest, Math.abs(x));
      expectClose(got, want, 1e-5 * largest, 1e-5, 'logits');
      // The rounding is real: the unrounded model's logits differ, a little.
      let diff = 0;
      for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - orig[i]));
      console.log(`${modelName}: max |Δlogit| against the unrounded model ${diff.toExponential(2)} (largest |logit| ${largest.toFixed(3)})`);
      expect(diff).toBeGreaterThan(0);
      expect(diff).toBeLessThan(0.05 * largest);
    });

    it('gives the LoRA gradients of the f32 model with f16-rounded matrices, and training lowers the loss', async () => {
      const ctx = await gpu();
      const V = f16.model.spec.V;
      const adapter = await importPeft(folderSource(join(SHARED_DIR!, 'golden', adapterName)), f16.model.spec);
      const batch = (k: number): TokenBatch => {
        const x = ids(V, k);
        return { B, T, ids: x, labels: Int32Array.from(x, (id, i) => (i % T < 2 ? -100 : id)), attentionMask: x.map(() => 1) };
      };
      const gradients = async (m: LanguageModel) => {
        const lora = GpuLora.create(ctx, adapter);
        const step = new TrainStep(ctx, m, lora, B, T, DEFAULT_OPTIMIZER);
        const loss = await step.gradients([batch(0), batch(1)]);
        const grads = await readTensor(ctx, lora.grads);
        return { loss, grads, step, lora };
      };
      const a = await gradients(f16.model);
      const b = await gradients(rounded.model);
      expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(b.loss));
      let largest = 0;
      for (const g of b.grads) largest = Math.max(largest, Math.abs(g));
      expect(largest).toBeGreaterThan(0);
      expectClose(a.grads, b.grads, 1e-5 * largest, 1e-5, 'LoRA gradients');
      b.step.destroy();
      b.lora.destroy();

      // A few optimizer steps on one batch with f16 storage lower its loss.
      const losses = [a.loss];
      a.step.applyOptimizer(1e-2);
      for (let i = 0; i < 4; i++) losses.push(await a.step.train([batch(0), batch(1)], 1e-2));
      console.log(`${modelName}: losses with f16 weights ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      expect(losses.at(-1)!).toBeLessThan(losses[0]);
      a.step.destroy();
      a.lora.destroy();
    });
  });
}

describe.skipIf(!SHARED_DIR)(`f16 weight storage through the Engine${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('loadModel takes weightStorage, reports it and the halved bytes, and generates', async () => {
    const dir = join(SHARED_DIR!, 'models', 'stories260K');
    const engine = new Engine({ ctx: await gpu(), resolvePath: (p) => resolveModelSource(p) });
    try {
      const f32 = await engine.loadModel(dir);
      const f16 = await engine.loadModel(dir, undefined, { weightStorage: 'f16' });
      expect([f32.weightStorage, f16.weightStorage]).toEqual(['f32', 'f16']);
      expect(f16.parameters).toBe(f32.parameters);
      expect(f16.gpuBytes).toBeLessThan(0.56 * f32.gpuBytes);
      const reply = await engine.generate('Once upon a time', { maxNewTokens: 8 });
      expect(reply.text.length).toBeGreaterThan(0);
      // A bad value fails before the loaded model is dropped.
      await expect(engine.loadModel(dir, undefined, { weightStorage: 'bf16' as 'f16' })).rejects.toThrow("weightStorage must be 'f32', 'f16', 'nf4' or 'q8', not 'bf16'");
      expect((await engine.generate('Once', { maxNewTokens: 2 })).tokens).toBeGreaterThan(0);
    } finally {
      await engine.dispose();
    }
  });
});
