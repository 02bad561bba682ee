// examples/langchain-chain.mjs, run with plain Node against the server (in this process, with an
// API key): LangChain.js's ChatOpenAI with a custom base URL, in a chain prompt template → model
// → string parser, prints the story that `webgpu-lora generate --input` prints for the same
// message and settings (greedy, 48 tokens, the golden stories260K adapter).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { cliInProcess } from '../cli/run-cli.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'langchain-chain.mjs');
const MODEL = join(SHARED_DIR ?? '', 'models', 'stories260K');
const ADAPTER = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');
const KEY = 'langchain-test-key';

describe.skipIf(!SHARED_DIR)(`the LangChain.js example chain${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let lora: GpuLora;
  let server: RunningServer;
  const log: string[] = [];
  beforeAll(async () => {
    const ctx = await gpu();
    model = await LanguageModel.load(ctx, folderSource(MODEL));
    lora = GpuLora.create(ctx, await importPeft(folderSource(ADAPTER), model.spec));
    server = await startServer({ model, tokenizer: await TextTokenizer.load(folderSource(MODEL)), lora, id: 'stories' }, { port: 0, apiKey: KEY, log: (l) => log.push(l) });
  });
  afterAll(async () => {
    await server?.close();
    lora?.destroy();
    model?.destroy();
  });

  it('prompt template → ChatOpenAI (custom baseURL) → StringOutputParser prints generate --input’s story', async () => {
    const env = { ...process.env, WEBGPU_LORA_URL: server.url, WEBGPU_LORA_API_KEY: KEY };
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE, 'a cat'], { cwd: ROOT, env, timeout: 60_000 });
    const gen = await cliInProcess(['generate', '--model', MODEL, '--adapter', ADAPTER, '--input', 'Tell me a story about a cat.', '--max-new-tokens', '48', '--temperature', '0']);
    expect(gen.status, gen.stderr).toBe(0);
    expect(gen.stdout.trim().length).toBeGreaterThan(20);
    expect(stdout).toBe(gen.stdout);
    expect(log).toEqual([expect.stringMatching(/^POST \/v1\/chat\/completions 200 /)]); // one request, with the key
  });

  it('with a wrong key the chain fails with the server’s 401', async () => {
    const env = { ...process.env, WEBGPU_LORA_URL: server.url, WEBGPU_LORA_API_KEY: 'wrong' };
    const run = promisify(execFile)(process.execPath, [EXAMPLE], { cwd: ROOT, env, timeout: 60_000 });
    await expect(run).rejects.toMatchObject({ stderr: expect.stringMatching(/401|Incorrect API key/) });
  });
});
