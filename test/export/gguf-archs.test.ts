// GGUF export of the other architectures, proven by a real llama.cpp: for tiny-random qwen2
// (q/k/v biases, untied head), qwen3 (q/k norms, explicit head_dim), gemma3 (four norms per layer
// stored as w + 1, sliding window 5 on layers 0 and 1 with their own RoPE base, √C embedding
// scale), llama with Llama 3 RoPE scaling (rope_freqs factors, bf16 weights) and gpt2 (Conv1D
// weights, fused c_attn, learned positions), the base model, the base
// with the GGUF LoRA, and the merged model generate greedily the same 20 tokens as this engine
// with the same adapter. Adapters: the golden PEFT ones of ../shared/golden where they exist, a
// generated one (lora_B random, so that it changes the output) for gemma3. These models have no
// tokenizer, so the files carry the placeholder vocabulary; prompts are token ids.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportGguf, type ExportGgufOptions } from '../../src/export/gguf/export.js';
import { generateTokens } from '../../src/generate/generate.js';
import { writeFileAtomicStream } from '../../src/io/atomic-node.js';
import { initLoraAdapter, type LoraAdapter } from '../../src/lora/adapter.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { gpu, NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';
import { llamaCppGreedy, NO_LLAMA_CPP_REASON } from './llama-cpp.js';

const N = 20;
const PROMPT = [5, 17, 42, 8, 99, 3];
const CASES = [
  { model: 'tiny-random-qwen2', golden: 'qwen2-attn' },
  { model: 'tiny-random-qwen3', golden: 'qwen3-all-linear' },
  { model: 'tiny-random-gemma3', golden: null },
  { model: 'tiny-random-llama3', golden: null },
  { model: 'tiny-random-gpt2', golden: 'gpt2-attn-mlp' },
];

describe.skipIf(!SHARED_DIR || NO_LLAMA_CPP_REASON)(`GGUF export of qwen2, qwen3, gemma3, gpt2 in llama.cpp${SHARED_DIR ? (NO_LLAMA_CPP_REASON ? ` (skipped: ${NO_LLAMA_CPP_REASON})` : '') : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-archs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.model}: base, base + GGUF LoRA and merged generate the engine's tokens`, async () => {
      const ctx = await gpu();
      const source = folderSource(join(SHARED_DIR!, 'models', c.model));
      const model = await LanguageModel.load(ctx, source);
      let adapter: LoraAdapter;
      if (c.golden) {
        adapter = await importPeft(folderSource(join(SHARED_DIR!, 'golden', c.golden)), model.spec);
      } else {
        adapter = initLoraAdapter(model.spec, { r: 4, alpha: 8, targetModules: 'all-linear', useRslora: false, dropout: 0 }, 1, c.model);
        let seed = 11;
        for (const f of adapter.weights.values()) f.B = randomArray(f.B.length, seed++, -0.2, 0.2);
      }
      const lora = GpuLora.create(ctx, adapter);
      const engineBase = (await generateTokens(model, PROMPT, { maxNewTokens: N, eosTokenIds: [] })).ids;
      const engineLora = (await generateTokens(model, PROMPT, { maxNewTokens: N, eosTokenIds: [], lora })).ids;
      lora.destroy();
      model.destroy();
      expect(engineLora, 'the adapter changes the greedy tokens').not.toEqual(engineBase);

      const file = async (name: string, opts: ExportGgufOptions) => {
        const path = join(dir, `${c.model}-${name}.gguf`);
        await writeFileAtomicStream(path, (sink) => exportGguf(sink, source, opts));
        return path;
      };
      const base = await file('base', {});
      expect(await llamaCppGreedy(base, PROMPT, N), 'base f32').toEqual(engineBase);
      expect(await llamaCppGreedy(base, PROMPT, N, await file('lora', { adapter })), 'base + LoRA f32').toEqual(engineLora);
      expect(await llamaCppGreedy(base, PROMPT, N, await file('lora-f16', { adapter, type: 'f16' })), 'base + LoRA f16').toEqual(engineLora);
      expect(await llamaCppGreedy(await file('merged', { adapter, merged: true }), PROMPT, N), 'merged f32').toEqual(engineLora);
    });
  }
});
