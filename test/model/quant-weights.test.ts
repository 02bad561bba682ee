// weightStorage 'nf4' and 'q8' (QLoRA): the layers' seven projections quantized on upload by the
// rules of src/gpu/quant (NF4 blocks of 64 of the flattened [out, in] matrix; Q8_0 blocks of 32
// along rows, only where K is a multiple of 32, else the matrix stays f16), the embedding and an
// untied head f16, norms and biases f32. On the GPU each projection holds exactly the quantizer's
// words of the checkpoint's (GPT-2: transposed) matrix; the Engine takes and reports the storage,
// its bytes are the plan's, and it generates. (The golden-quant cases, test/cli/golden.test.ts,
// check logits, gradients and AdamW steps against PyTorch on the same dequantized weights.)
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { quantizeNf4 } from '../../src/gpu/quant/nf4.js';
import { quantizeQ8 } from '../../src/gpu/quant/q8.js';
import { readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { PROJECTION_FIELDS, type WeightStorageOption } from '../../src/model/gpu-weights.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource, resolveModelSource } from '../../src/model/source-node.js';
import { loadModelSpec, loadWeights } from '../../src/model/weights.js';
import { modelBytes } from '../../src/train/memory.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const CASES: Array<[string, 'nf4' | 'q8']> = [
  ['stories260K', 'nf4'], // Llama, tied head; down's K = 172
  ['stories260K', 'q8'], // down (K 172) stays f16
  ['tiny-random-gpt2', 'nf4'], // Conv1D weights, transposed on load; c_attn split into q, k, v
  ['tiny-random-qwen2', 'q8'], // an untied head, q/k/v biases
];

describe.skipIf(!SHARED_DIR)(`quantized weight storage${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  for (const [name, method] of CASES) {
    for (const others of ['f16', 'f32'] as const) {
      it(`${name}, ${method} projections, others ${others}: the GPU holds the quantizer's words of each projection`, async () => {
        const ctx = await gpu();
        const source = folderSource(join(SHARED_DIR!, 'models', name));
        const storage: WeightStorageOption = others === 'f16' ? method : { projections: method, others };
        const model = await LanguageModel.load(ctx, source, undefined, { weightStorage: storage });
        try {
          const { spec } = await loadModelSpec(source);
          const cpu = await loadWeights(source, spec);
          const w = model.weights.weights;
          expect(model.weightStorage).toBe(method);
          expect([w.embed[0].dtype, w.lmHead[0].dtype, w.finalNorm.dtype]).toEqual([others, others, 'f32']);
          let quantized = 0;
          for (const [l, layer] of w.layers.entries()) {
            for (const [field, t] of Object.entries(layer) as Array<[string, Tensor]>) {
              const data = (cpu.layers[l] as unknown as Record<string, { data: Float32Array; shape: number[] }>)[field];
              if (!PROJECTION_FIELDS.has(field)) {
                expect(t.dtype, `layers.${l}.${field}`).toBe('f32');
                continue;
              }
              const K = data.shape[1];
              if (method === 'q8' && K % 32 !== 0) {
                expect(t.dtype, `layers.${l}.${field} (K ${K})`).toBe(others);
                continue;
              }
              expect(t.dtype, `layers.${l}.${field}`).toBe(method);
              const want = method === 'nf4' ? quantizeNf4(data.data) : quantizeQ8(data.data, K);
              expect(Buffer.compare(Buffer.from((await readTensor(ctx, t)).buffer), Buffer.from(want.buffer)), `layers.${l}.${field}`).toBe(0);
              quantized++;
            }
          }
          expect(quantized).toBeGreaterThan(0);
        } finally {
          model.destroy();
        }
      });
    }
  }

  it('the Engine takes nf4 and q8, reports them and the planned bytes, and generates', async () => {
    const dir = join(SHARED_DIR!, 'models', 'stories260K');
    const engine = new Engine({ ctx: await gpu(), resolvePath: (p) => resolveModelSource(p) });
    try {
      const f16 = await engine.loadModel(dir, undefined, { weightStorage: 'f16' });
      for (const storage of ['nf4', 'q8'] as const) {
        const info = await engine.loadModel(dir, undefined, { weightStorage: storage });
        const { spec } = await loadModelSpec(folderSource(dir));
        expect(info.weightStorage).toBe(storage);
        expect(info.gpuBytes).toBe(modelBytes(spec, storage));
        expect(info.gpuBytes).toBeLessThan(f16.gpuBytes);
        expect((await engine.generate('Once upon a time', { maxNewTokens: 8 })).text.length).toBeGreaterThan(0);
      }
    } finally {
      await engine.dispose();
    }
  });
});
