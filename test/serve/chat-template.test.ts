// The chat endpoint with a tokenizer that has a chat template (qwen2.5-vocab: the real Qwen2.5
// tokenizer and template, tiny random weights, so the text means nothing but must be exact):
// one user message gets `webgpu-lora generate --input`'s answer, greedy and sampled, streamed
// and not; a conversation with a system message and earlier turns is answered from the
// template's text of all of it.
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTextFromIds } from '../../src/generate/text.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { TextTokenizer, type ChatMessage } from '../../src/tokenize/tokenizer.js';
import { formatPrompt } from '../../src/train/format.js';
import { cliInProcess } from '../cli/run-cli.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const MODEL = join(SHARED_DIR ?? '', 'models', 'qwen2.5-vocab');
const INPUT = 'What is the capital of France?';
const N = 5;

async function generateInput(args: string[]): Promise<string> {
  const r = await cliInProcess(['generate', '--model', MODEL, '--input', INPUT, '--max-new-tokens', String(N), ...args]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.slice(0, -1);
}

describe.skipIf(!SHARED_DIR)(`the chat endpoint with a chat template${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let tokenizer: TextTokenizer;
  let server: RunningServer;
  let client: OpenAI;
  beforeAll(async () => {
    const ctx = await gpu();
    model = await LanguageModel.load(ctx, folderSource(MODEL));
    tokenizer = await TextTokenizer.load(folderSource(MODEL));
    server = await startServer({ model, tokenizer, id: 'qwen' }, { port: 0 });
    client = new OpenAI({ baseURL: server.url, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    model?.destroy();
  });

  it('one user message: generate --input’s answer, sampled and streamed; greedy not streamed, the library’s answer to formatPrompt', async () => {
    expect(tokenizer.chatTemplate).not.toBeNull();
    const sampled = await generateInput(['--temperature', '0.8', '--seed', '5']);
    // (What generate --input prints, as test/cli/generate-adapter.test.ts checks, without loading this tokenizer once more.)
    const eosTokenIds = [...new Set([...model.eosTokenIds, tokenizer.eosTokenId!])];
    const greedy = (await generateTextFromIds(model, tokenizer, formatPrompt(INPUT, tokenizer), { maxNewTokens: N, eosTokenIds })).text;
    const messages: ChatMessage[] = [{ role: 'user', content: INPUT }];
    const r = await client.chat.completions.create({ model: 'qwen', messages, max_tokens: N, temperature: 0 });
    expect(r.choices[0].message.content).toBe(greedy);
    expect(r.usage?.prompt_tokens).toBe(formatPrompt(INPUT, tokenizer).length);

    let text = '';
    for await (const c of await client.chat.completions.create({ model: 'qwen', messages, max_tokens: N, temperature: 0.8, seed: 5, stream: true })) {
      text += c.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe(sampled);
    expect(sampled).not.toBe(greedy);
  });

  it('a system message and earlier turns: the answer to the template’s text of the whole conversation', async () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You answer in one word.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: INPUT },
    ];
    const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { addSpecialTokens: false });
    const lib = await generateTextFromIds(model, tokenizer, ids, { maxNewTokens: N, eosTokenIds: [...new Set([...model.eosTokenIds, tokenizer.eosTokenId!])] });
    const r = await client.chat.completions.create({ model: 'qwen', messages, max_tokens: N, temperature: 0 });
    expect(r.choices[0].message.content).toBe(lib.text);
    expect(r.usage).toEqual({ prompt_tokens: ids.length, completion_tokens: lib.ids.length, total_tokens: ids.length + lib.ids.length });
    expect(r.choices[0].finish_reason).toBe(lib.stopReason === 'eos' ? 'stop' : 'length');
  });
});
