// `webgpu-lora generate --adapter <dir>` and `--input <text>`: the CLI's output equals the
// library's generation with the same PEFT adapter, --input prints only the answer to the
// formatted input, and wrong combinations fail with clear messages. The CLI runs in this process
// (main(), as the binary does; test/cli/generate.test.ts runs the binary itself).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateText, generateTextFromIds } from '../../src/generate/text.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { formatPrompt } from '../../src/train/format.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cliInProcess } from './run-cli.js';

const MODEL = join(SHARED_DIR ?? '', 'models', 'stories260K');
const ADAPTER = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');
const OTHER_ADAPTER = join(SHARED_DIR ?? '', 'golden', 'qwen2-attn');
const PROMPT = 'Once upon a time';
const INPUT = 'Tell me a story about a cat.';
const N = '30';

describe.skipIf(!SHARED_DIR)(`webgpu-lora generate --adapter / --input${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let tokenizer: TextTokenizer;
  let lora: GpuLora;
  beforeAll(async () => {
    const ctx = await gpu();
    model = await LanguageModel.load(ctx, folderSource(MODEL));
    tokenizer = await TextTokenizer.load(folderSource(MODEL));
    lora = GpuLora.create(ctx, await importPeft(folderSource(ADAPTER), model.spec));
  });
  afterAll(() => {
    lora?.destroy();
    model?.destroy();
  });

  it('with the golden adapter prints what the library generates with it, not what the base model does', async () => {
    const base = await cliInProcess(['generate', '--model', MODEL, '--prompt', PROMPT, '--max-new-tokens', N]);
    const adapted = await cliInProcess(['generate', '--model', MODEL, '--prompt', PROMPT, '--max-new-tokens', N, '--adapter', ADAPTER]);
    expect(base.status, base.stderr).toBe(0);
    expect(adapted.status, adapted.stderr).toBe(0);
    const lib = await generateText(model, tokenizer, PROMPT, { maxNewTokens: Number(N), lora });
    expect(lib.ids.length).toBe(Number(N));
    expect(adapted.stdout).toBe(`${lib.text}\n`);
    expect(adapted.stdout).not.toBe(base.stdout);
    expect(base.stdout).toBe(`${(await generateText(model, tokenizer, PROMPT, { maxNewTokens: Number(N) })).text}\n`);
  });

  it('--input prints only the answer to the formatted input, up to EOS, without special tokens', async () => {
    const r = await cliInProcess(['generate', '--model', MODEL, '--input', INPUT, '--max-new-tokens', N, '--adapter', ADAPTER]);
    expect(r.status, r.stderr).toBe(0);
    const promptIds = formatPrompt(INPUT, tokenizer);
    const eosTokenIds = [...new Set([...model.eosTokenIds, tokenizer.eosTokenId!])];
    const lib = await generateTextFromIds(model, tokenizer, promptIds, { maxNewTokens: Number(N), lora, eosTokenIds });
    expect(r.stdout).toBe(`${lib.text}\n`);
    expect(lib.text.length).toBeGreaterThan(0);
    for (const text of [INPUT, '### Input', '### Output', '</s>', '<s>']) expect(r.stdout).not.toContain(text);
  });

  it('an adapter made for another model fails naming both and the mismatch', async () => {
    const r = await cliInProcess(['generate', '--model', MODEL, '--prompt', PROMPT, '--adapter', OTHER_ADAPTER]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the adapter .*qwen2-attn cannot be used with the model .*stories260K \(llama, 5 layers, width 64; the adapter names 'models\/tiny-random-qwen2' as its base model\)/);
    expect(r.stderr).toMatch(/q_proj\.lora_A\.weight' has shape \[4, 48\], expected \[4, 64\]/);
    expect(r.stdout).toBe('');
  });

  it('a missing adapter folder fails naming it', async () => {
    const r = await cliInProcess(['generate', '--model', MODEL, '--prompt', PROMPT, '--adapter', './no/such/adapter']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--adapter '\.\/no\/such\/adapter' is not a folder/);
  });
});

describe('webgpu-lora generate usage', () => {
  it('--input with --prompt, or neither, is a usage error (exit code 2)', async () => {
    const both = await cliInProcess(['generate', '--model', 'x', '--prompt', 'a', '--input', 'b']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/generate takes --prompt or --input, not both/);
    const neither = await cliInProcess(['generate', '--model', 'x']);
    expect(neither.status).toBe(2);
    expect(neither.stderr).toMatch(/generate needs --prompt <text> or --input <text>/);
  });
});
