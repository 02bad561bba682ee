// The plan of a model's GPU tensors (src/model/gpu-weights.ts planWeights): without a GPU, which
// tensors each architecture plans, with which element type under f32, f16, nf4 and q8 storage (and
// a {projections, others} descriptor), and that the
// memory estimate (src/train/memory.ts) is the plan's bytes; with a GPU, that loading a model puts
// exactly the planned tensors on it (the same labels, shapes, element types and buffer sizes, and
// the bytes the load adds), that the plan holds as many elements as the checkpoint (an oracle
// apart from the plan), and that uploadWeights refuses weights that differ from the plan, naming
// the tensor and both shapes, before allocating anything.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SMOLLM2_135M } from '../../bench/models.js';
import { gpuMemory, Tensor } from '../../src/gpu/tensor.js';
import { loadModelSpec, parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import { destroyWeights, planWeights, uploadWeights, type WeightPlan, type WeightStorage } from '../../src/model/gpu-weights.js';
import { LanguageModel } from '../../src/model/model.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { bufferBytes, plannedBytes, plannedTensors } from '../../src/model/train-buffer-plan.js';
import type { CpuTensor, LayerWeights, ModelWeights } from '../../src/model/weights.js';
import { wholeShape } from '../../src/model/vocab-blocks.js';
import { estimateTrainingMemory, modelBytes, modelElements } from '../../src/train/memory.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const smollm = parseModelConfig(SMOLLM2_135M, 'SmolLM2-135M config');
const gpt2 = parseModelConfig({ model_type: 'gpt2', vocab_size: 100, n_embd: 16, n_head: 2, n_layer: 2, n_positions: 32, tie_word_embeddings: false }, 'a tiny gpt2');
const qwen3Config = { model_type: 'qwen3', vocab_size: 50, hidden_size: 8, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 6, num_hidden_layers: 2, intermediate_size: 12, max_position_embeddings: 20, tie_word_embeddings: true };
const qwen3 = parseModelConfig(qwen3Config, 'a tiny qwen3');
const qwen2 = parseModelConfig(
  { model_type: 'qwen2', vocab_size: 30, hidden_size: 8, num_attention_heads: 2, num_key_value_heads: 2, num_hidden_layers: 1, intermediate_size: 10, max_position_embeddings: 16 },
  'a tiny qwen2',
);
const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
/** The whole [V, C] of a vocabulary matrix's blocks of rows. */
const whole = (blocks: Array<{ shape: number[] }>) => ({ shape: wholeShape(blocks) });
const PROJECTIONS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

describe('planWeights', () => {
  it('plans every layer field the architecture has, each named layers.<l>.<field>', () => {
    expect(Object.keys(planWeights(smollm).layers[3]).sort()).toEqual(['attnNorm', 'down', 'gate', 'k', 'mlpNorm', 'o', 'q', 'up', 'v']);
    expect(planWeights(smollm).layers[3].q.name).toBe('layers.3.q');
    expect(Object.keys(planWeights(qwen3).layers[0]).sort()).toEqual(['attnNorm', 'down', 'gate', 'k', 'kNorm', 'mlpNorm', 'o', 'q', 'qNorm', 'up', 'v']);
    expect(Object.keys(planWeights(qwen2).layers[0]).sort()).toEqual(['attnNorm', 'down', 'gate', 'k', 'kBias', 'mlpNorm', 'o', 'q', 'qBias', 'up', 'v', 'vBias']);
    expect(Object.keys(planWeights(gpt2).layers[1]).sort()).toEqual(
      ['attnNorm', 'attnNormBias', 'down', 'downBias', 'k', 'kBias', 'mlpNorm', 'mlpNormBias', 'o', 'oBias', 'q', 'qBias', 'up', 'upBias', 'v', 'vBias'].sort(),
    );
    for (const spec of [smollm, gpt2, qwen3, qwen2]) {
      const names = plannedTensors(planWeights(spec)).map((t) => t.name);
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it("plans Gemma 3's post-norms and one RoPE block per distinct RoPE", () => {
    const gemma = parseModelConfig(
      {
        model_type: 'gemma3_text', vocab_size: 30, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
        head_dim: 4, max_position_embeddings: 10, layer_types: ['sliding_attention', 'full_attention'], sliding_window: 3,
      },
      'a tiny gemma3',
    );
    const plan = planWeights(gemma);
    expect(Object.keys(plan.layers[1]).sort()).toEqual(['attnNorm', 'down', 'gate', 'k', 'kNorm', 'mlpNorm', 'o', 'postAttnNorm', 'postMlpNorm', 'q', 'qNorm', 'up', 'v']);
    expect([plan.ropeCos?.shape, plan.ropeSin?.shape, plan.lmHead]).toEqual([[20, 2], [20, 2], undefined]);
    const nope = parseModelConfig({ ...qwen3Config, model_type: 'smollm3', no_rope_layers: [0, 0] }, 'a NoPE-only smollm3');
    expect([planWeights(nope).ropeCos, planWeights(nope).ropeSin]).toEqual([undefined, undefined]);
  });

  it('plans the global tensors: learned positions for GPT-2, RoPE tables [P, HS/2] otherwise, an LM head only when untied', () => {
    const g = planWeights(gpt2);
    expect([g.positions?.shape, g.finalNormBias?.shape, g.lmHead?.map((b) => b.shape), g.ropeCos, g.ropeSin]).toEqual([[32, 16], [16], [[100, 16]], undefined, undefined]);
    const q = planWeights(qwen3);
    expect([q.positions, q.finalNormBias, q.lmHead, q.ropeCos?.shape, q.ropeSin?.shape]).toEqual([undefined, undefined, undefined, [20, 3], [20, 3]]);
    expect(q.layers[1].qNorm?.shape).toEqual([6]);
    expect(q.layers[1].k.shape).toEqual([6, 8]);
    expect(q.layers[1].o.shape).toEqual([8, 12]);
    expect(planWeights(qwen2).lmHead?.map((b) => b.shape)).toEqual([[30, 8]]);
  });

  it('under f16 storage makes exactly the matrices f16 (projections, embedding, positions, untied head)', () => {
    for (const spec of [smollm, gpt2, qwen3, qwen2]) {
      expect(plannedTensors(planWeights(spec, 'f32')).every((t) => t.dtype === 'f32')).toBe(true);
      const half = plannedTensors(planWeights(spec, 'f16')).filter((t) => t.dtype === 'f16').map((t) => t.name);
      const matrices = [
        'embed',
        ...(spec.arch === 'gpt2' ? ['positions'] : []),
        ...(spec.tieWordEmbeddings ? [] : ['lmHead']),
        ...Array.from({ length: spec.L }, (_, l) => PROJECTIONS.filter((p) => p !== 'gate' || spec.arch !== 'gpt2').map((p) => `layers.${l}.${p}`)).flat(),
      ];
      expect(half.sort()).toEqual(matrices.sort());
    }
    expect(() => planWeights(smollm, 'bf16' as WeightStorage)).toThrow("weightStorage must be 'f32', 'f16', 'nf4' or 'q8', not 'bf16'");
  });

  it('under nf4 and q8 storage quantizes exactly the projections (q8: rows a multiple of 32), the other matrices f16', () => {
    // SmolLM2-135M: C 576, F 1536, both multiples of 32: every projection is q8.
    for (const spec of [smollm, gpt2, qwen3, qwen2]) {
      for (const method of ['nf4', 'q8'] as const) {
        for (const others of ['f16', 'f32'] as const) {
          const plan = planWeights(spec, others === 'f16' ? method : { projections: method, others });
          for (const t of plannedTensors(plan)) {
            const field = t.name.split('.').at(-1)!;
            const isProjection = t.name.startsWith('layers.') && PROJECTIONS.includes(field);
            const isMatrix = ['embed', 'positions', 'lmHead'].includes(t.name);
            const fits = method === 'nf4' || t.shape.at(-1)! % 32 === 0;
            const want = isProjection ? (fits ? method : others) : isMatrix ? others : 'f32';
            expect(t.dtype, `${spec.modelType} ${method}/${others}: ${t.name} [${t.shape}]`).toBe(want);
          }
        }
      }
    }
    // The tiny configs' K (8, 12, 16) are not multiples of 32: q8 leaves them all f16; SmolLM2 quantizes all.
    expect(plannedTensors(planWeights(qwen3, 'q8')).some((t) => t.dtype === 'q8')).toBe(false);
    expect(plannedTensors(planWeights(smollm, 'q8')).filter((t) => t.dtype === 'q8').length).toBe(7 * smollm.L);
    // 'f16' is {f16, f16}, 'f32' {f32, f32}: the same plans as the names.
    expect(planWeights(gpt2, { projections: 'f16', others: 'f16' }).layers).toEqual(planWeights(gpt2, 'f16').layers);
    expect(() => planWeights(smollm, { projections: 'nf4', others: 'nf4' as 'f32' })).toThrow("weightStorage.others must be 'f32' or 'f16', not 'nf4'");
    // NF4: 9 words per block of 64; Q8_0: 9 words per block of 32 (SmolLM2's q: 576 × 576).
    const q = (storage: WeightStorage) => bufferBytes(planWeights(smollm, storage).layers[0].q);
    expect([q('nf4'), q('q8')]).toEqual([36 * Math.ceil((576 * 576) / 64), 36 * ((576 * 576) / 32)]);
    for (const storage of ['nf4', 'q8'] as const) {
      const e = estimateTrainingMemory(smollm, { r: 8, alpha: 16, targetModules: 'all-linear', useRslora: false, dropout: 0 }, 1, 64, { weightStorage: storage });
      expect(e.modelBytes).toBe(plannedBytes(planWeights(smollm, storage)).total);
      expect(e.modelBytes).toBeLessThan(modelBytes(smollm, 'f16'));
    }
  });

  it('is what the memory estimate counts: model bytes and the largest buffer', () => {
    for (const spec of [smollm, gpt2, qwen3, qwen2]) {
      for (const storage of ['f32', 'f16', 'nf4', 'q8'] as const) {
        const planned = plannedBytes(planWeights(spec, storage));
        expect(modelBytes(spec, storage)).toBe(planned.total);
        const e = estimateTrainingMemory(spec, { r: 2, alpha: 4, targetModules: 'all-linear', useRslora: false, dropout: 0 }, 1, 4, { weightStorage: storage });
        expect(e.modelBytes).toBe(planned.total);
        expect(e.largestBufferBytes).toBeGreaterThanOrEqual(planned.largest);
      }
      expect(modelElements(spec).total).toBe(plannedTensors(planWeights(spec)).reduce((n, t) => n + elements(t.shape), 0));
    }
    // SmolLM2-135M: the 49,152 × 576 embedding is its largest tensor, and the largest buffer of a short run.
    expect(plannedBytes(planWeights(smollm, 'f16')).largest).toBe(2 * 49152 * 576);
    const e = estimateTrainingMemory(smollm, { r: 8, alpha: 16, targetModules: 'all-linear', useRslora: false, dropout: 0 }, 1, 64, { weightStorage: 'f16' });
    expect(e.largestBufferBytes).toBe(2 * 49152 * 576);
  });
});

/** Every distinct tensor reachable from `x` (a model's ForwardWeights), as what the GPU holds. */
function uploaded(x: unknown, seen = new Set<Tensor>()): Set<Tensor> {
  if (x instanceof Tensor) seen.add(x);
  else if (typeof x === 'object' && x !== null) for (const v of Object.values(x)) uploaded(v, seen);
  return seen;
}

const row = (name: string, shape: readonly number[], dtype: string, bytes: number) => ({ name, shape: [...shape], dtype, bytes });
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const MODELS = ['stories260K', 'tiny-random-qwen2', 'tiny-random-qwen3', 'tiny-random-gpt2', 'tiny-random-gemma3', 'tiny-random-llama3', 'tiny-random-smollm3'];

describe.skipIf(!SHARED_DIR)(`LanguageModel.load allocates the plan${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const loaded: LanguageModel[] = [];
  afterAll(() => loaded.forEach((m) => m.destroy()));

  for (const name of MODELS) {
    for (const storage of ['f32', 'f16', 'nf4', 'q8'] as const) {
      it(`${name}, ${storage} storage: the uploaded tensors are exactly the planned ones`, async () => {
        const ctx = await gpu();
        const before = gpuMemory(ctx).current;
        const model = await LanguageModel.load(ctx, folderSource(join(SHARED_DIR!, 'models', name)), undefined, { weightStorage: storage });
        loaded.push(model);
        const added = gpuMemory(ctx).current - before;
        const plan = planWeights(model.spec, storage);
        const want = plannedTensors(plan).map((t) => row(t.name, t.shape, t.dtype, bufferBytes(t))).sort(byName);
        const got = [...uploaded(model.weights)].map((t) => row(t.buffer.label, t.shape, t.dtype, t.buffer.size)).sort(byName);
        expect(got).toEqual(want);
        expect(added, 'the bytes the load added').toBe(plannedBytes(plan).total);
        expect(modelBytes(model.spec, storage), 'the memory estimate').toBe(added);
        const lora = { r: 2, alpha: 4, targetModules: 'all-linear' as const, useRslora: false, dropout: 0 };
        expect(estimateTrainingMemory(model.spec, lora, 1, 4, { weightStorage: storage }).modelBytes, "the training estimate's modelBytes").toBe(added);
        expect(model.weightStorage).toBe(storage);
        expect(model.weights.weights.lmHead === model.weights.weights.embed).toBe(model.spec.tieWordEmbeddings);
      });
    }

    it(`${name}: the plan holds the checkpoint's elements, plus the RoPE tables`, async () => {
      const source = folderSource(join(SHARED_DIR!, 'models', name));
      const { spec } = await loadModelSpec(source);
      const header = await readSafetensorsHeader(source, 'model.safetensors');
      let checkpoint = 0;
      for (const [tensor, info] of header.tensors) if (!(spec.tieWordEmbeddings && tensor === 'lm_head.weight')) checkpoint += elements(info.shape);
      const plan = planWeights(spec);
      const rope = [plan.ropeCos, plan.ropeSin].reduce((n, t) => n + (t ? elements(t.shape) : 0), 0);
      // One [P, HS/2] block of cos and of sin per distinct RoPE (Gemma 3: its sliding and its full layers').
      expect(rope).toBe(spec.ropes.length * spec.maxPositions * spec.HS);
      expect(spec.ropes.length).toBe({ 'tiny-random-gpt2': 0, 'tiny-random-gemma3': 2 }[name] ?? 1);
      expect(modelElements(spec).total - rope).toBe(checkpoint);
    });
  }
});

/** CPU weights of exactly a plan's shapes (zeros): what loadWeights gives for the spec. */
function cpuWeights(plan: WeightPlan): ModelWeights {
  const cpu = (t: { shape: number[] }): CpuTensor => ({ data: new Float32Array(elements(t.shape)), shape: [...t.shape] });
  const layers = plan.layers.map((l) => Object.fromEntries(Object.entries(l).map(([k, t]) => [k, cpu(t)])) as unknown as LayerWeights);
  const w: ModelWeights = { embed: cpu(whole(plan.embed)), layers, finalNorm: cpu(plan.finalNorm) };
  if (plan.positions) w.positions = cpu(plan.positions);
  if (plan.finalNormBias) w.finalNormBias = cpu(plan.finalNormBias);
  if (plan.lmHead) w.lmHead = cpu(whole(plan.lmHead));
  return w;
}

describe('uploadWeights checks the weights against the plan', () => {
  it('uploads weights of the planned shapes, and refuses others, naming the tensor and both shapes, before allocating', async () => {
    const ctx = await gpu();
    for (const spec of [qwen3, gpt2] as ModelSpec[]) {
      const ok = uploadWeights(ctx, spec, cpuWeights(planWeights(spec, 'f16')), 'f16');
      expect(ok.layers[1].q.label).toBe('layers.1.q');
      destroyWeights(ok);
    }
    const before = gpuMemory(ctx).current;
    const wrongShape = cpuWeights(planWeights(qwen3));
    wrongShape.layers[1].k = { data: new Float32Array(48), shape: [8, 6] };
    expect(() => uploadWeights(ctx, qwen3, wrongShape)).toThrow("uploadWeights: tensor 'layers.1.k' has shape [8, 6], but the plan (from the config) has [6, 8]");
    const missing = cpuWeights(planWeights(qwen2));
    delete missing.lmHead;
    expect(() => uploadWeights(ctx, qwen2, missing)).toThrow("uploadWeights: tensor 'lmHead' [30, 8] is planned but missing from the weights");
    const extra = cpuWeights(planWeights(qwen3));
    extra.layers[0].qBias = { data: new Float32Array(12), shape: [12] };
    expect(() => uploadWeights(ctx, qwen3, extra)).toThrow("uploadWeights: the weights have a tensor 'layers.0.qBias' [12] that the model's plan (its config) does not");
    const fewer = cpuWeights(planWeights(gpt2));
    fewer.layers.pop();
    expect(() => uploadWeights(ctx, gpt2, fewer)).toThrow('uploadWeights: the weights have 1 layers, the plan 2');
    expect(gpuMemory(ctx).current, 'nothing was allocated by the refused uploads').toBe(before);
  });
});
