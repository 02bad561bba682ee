// The GGUF export of stories260K, proven by a real llama.cpp (node-llama-cpp's CPU build): the
// exported base model (f32 and q8_0), the merged model, and the GGUF LoRA on the base generate
// greedily the same 20 tokens after "Once upon a time" as this engine with the same PEFT adapter
// (the golden start-point adapter of ../shared/golden/stories260K-all-linear: all 7 projections,
// r 4, alpha 8, lora_B non-zero), and llama.cpp tokenizes test strings as this project does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportGguf, type ExportGgufOptions } from '../../src/export/gguf/export.js';
import { generateTokens } from '../../src/generate/generate.js';
import { writeFileAtomicStream } from '../../src/io/atomic-node.js';
import type { LoraAdapter } from '../../src/lora/adapter.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { AFTER_ONCE_IDS, STORIES_DIR } from '../stories-readme.js';
import { llamaCppGreedy, llamaCppTokenize, NO_LLAMA_CPP_REASON } from './llama-cpp.js';

const N = 20;
const CASE = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');

describe.skipIf(!SHARED_DIR || NO_LLAMA_CPP_REASON)(`stories260K GGUF export in llama.cpp${SHARED_DIR ? (NO_LLAMA_CPP_REASON ? ` (skipped: ${NO_LLAMA_CPP_REASON})` : '') : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-stories-'));
  const source = folderSource(STORIES_DIR);
  let adapter: LoraAdapter;
  let promptIds: number[];
  let engineBase: number[];
  let engineLora: number[];
  // The adapter made strong (lora_B × 4, rsLoRA: s = alpha / √r = 4), so that its effect dominates
  // the base and a wrong orientation, row order or scale changes the tokens.
  let strong: LoraAdapter;
  let engineStrong: number[];
  const file = async (name: string, opts: ExportGgufOptions) => {
    const path = join(dir, name);
    await writeFileAtomicStream(path, (sink) => exportGguf(sink, source, opts));
    return path;
  };

  beforeAll(async () => {
    const ctx = await gpu();
    const model = await LanguageModel.load(ctx, source);
    adapter = await importPeft(folderSource(CASE), model.spec);
    const tokenizer = await TextTokenizer.load(source);
    promptIds = tokenizer.encode('Once upon a time');
    const lora = GpuLora.create(ctx, adapter);
    engineBase = (await generateTokens(model, promptIds, { maxNewTokens: N, eosTokenIds: [] })).ids;
    engineLora = (await generateTokens(model, promptIds, { maxNewTokens: N, eosTokenIds: [], lora })).ids;
    lora.destroy();
    strong = {
      ...adapter,
      config: { ...adapter.config, useRslora: true },
      weights: new Map([...adapter.weights].map(([path, { A, B }]) => [path, { A, B: B.map((b) => b * 4) }])),
    };
    const strongLora = GpuLora.create(ctx, strong);
    engineStrong = (await generateTokens(model, promptIds, { maxNewTokens: N, eosTokenIds: [], lora: strongLora })).ids;
    strongLora.destroy();
    model.destroy();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the engine references: the README continuation, and an adapter that changes it', () => {
    expect(engineBase).toEqual(AFTER_ONCE_IDS.slice(0, N));
    expect(engineLora).not.toEqual(engineBase);
    const same = engineStrong.filter((t, i) => t === engineBase[i]).length;
    expect(same, `the strong adapter keeps ${same} of ${N} base tokens`).toBeLessThan(N / 2);
  });

  it('base model f32 and q8_0: llama.cpp generates the engine tokens', async () => {
    expect(await llamaCppGreedy(await file('base-f32.gguf', { type: 'f32' }), promptIds, N)).toEqual(engineBase);
    expect(await llamaCppGreedy(await file('base-q8_0.gguf', { type: 'q8_0' }), promptIds, N)).toEqual(engineBase);
  });

  it('GGUF LoRA (f32, f16, q8_0) on the base: llama.cpp generates the engine tokens with the PEFT adapter', async () => {
    const base = await file('base-f32.gguf', { type: 'f32' });
    for (const type of ['f32', 'f16', 'q8_0'] as const) {
      const lora = await file(`lora-${type}.gguf`, { adapter, type });
      expect(await llamaCppGreedy(base, promptIds, N, lora), `LoRA ${type}`).toEqual(engineLora);
    }
    const strongLora = await file('strong-f16.gguf', { adapter: strong, type: 'f16' });
    expect(await llamaCppGreedy(base, promptIds, N, strongLora), 'strong rsLoRA adapter').toEqual(engineStrong);
    const q8Base = await file('base-q8_0.gguf', { type: 'q8_0' });
    expect(await llamaCppGreedy(q8Base, promptIds, N, join(dir, 'lora-f32.gguf')), 'q8_0 base + f32 LoRA').toEqual(engineLora);
  });

  it('merged model (f32, f16, q8_0): llama.cpp generates the engine tokens with the PEFT adapter', async () => {
    for (const type of ['f32', 'f16', 'q8_0'] as const) {
      expect(await llamaCppGreedy(await file(`merged-${type}.gguf`, { adapter, merged: true, type }), promptIds, N), `merged ${type}`).toEqual(engineLora);
    }
    expect(await llamaCppGreedy(await file('merged-strong.gguf', { adapter: strong, merged: true }), promptIds, N), 'merged strong').toEqual(engineStrong);
  });

  it('llama.cpp tokenizes text as this project does (SentencePiece scores from the merges)', async () => {
    const tokenizer = await TextTokenizer.load(source);
    const texts = ['Once upon a time', 'Lily and Tom went to the park.', ' leading space', 'double  space', 'new\nline', 'unseen word: xylophone!', 'It was 3 o\'clock.'];
    const got = await llamaCppTokenize(await file('base-f32.gguf', { type: 'f32' }), texts);
    expect(got).toEqual(texts.map((t) => tokenizer.encode(t, { addSpecialTokens: false })));
  });
});
