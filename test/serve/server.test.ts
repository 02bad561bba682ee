// The OpenAI-compatible server (src/serve/server.ts) in this process, serving stories260K with the
// golden PEFT adapter, used through the official `openai` client: its answers are the text that
// `webgpu-lora generate --adapter` prints for the same prompt and settings (greedy, and sampled
// with a temperature, top_p and seed), streamed and not; stop strings, usage counts, the SSE
// format, concurrent requests, a client that goes away, shutdown, and the errors (400s with
// OpenAI error objects, 404, 405, 413, 415, 403).
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { formatPrompt } from '../../src/train/format.js';
import { cliInProcess } from '../cli/run-cli.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const MODEL = join(SHARED_DIR ?? '', 'models', 'stories260K');
const ADAPTER = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');
const PROMPT = 'Once upon a time';
const INPUT = 'Tell me a story about a cat.';
const N = 16;
const SAMPLED = { temperature: 0.9, top_p: 0.95, seed: 11 };
const SAMPLED_ARGS = ['--temperature', '0.9', '--top-p', '0.95', '--seed', '11'];

/** What `webgpu-lora generate --adapter` prints for these options, without its final newline. */
async function generate(args: string[], maxNewTokens = N): Promise<string> {
  const r = await cliInProcess(['generate', '--model', MODEL, '--adapter', ADAPTER, '--max-new-tokens', String(maxNewTokens), ...args]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.endsWith('\n')).toBe(true);
  return r.stdout.slice(0, -1);
}

/** The events of a server-sent-event body, each parsed as JSON, and whether it ended with [DONE]. */
function parseSse(body: string): { events: Record<string, unknown>[]; done: boolean } {
  const blocks = body.split('\n\n').filter((b) => b !== '');
  for (const b of blocks) expect(b.startsWith('data: '), b).toBe(true);
  const done = blocks.at(-1) === 'data: [DONE]';
  return { events: blocks.filter((b) => b !== 'data: [DONE]').map((b) => JSON.parse(b.slice(6))), done };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe.skipIf(!SHARED_DIR)(`webgpu-lora's OpenAI-compatible server${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let model: LanguageModel;
  let tokenizer: TextTokenizer;
  let lora: GpuLora;
  let server: RunningServer;
  let client: OpenAI;
  const log: string[] = [];
  /** generate's output for: the prompt greedy / sampled, the input greedy / sampled. */
  const expected = { prompt: '', promptSampled: '', input: '', inputSampled: '' };

  beforeAll(async () => {
    const ctx = await gpu();
    model = await LanguageModel.load(ctx, folderSource(MODEL));
    tokenizer = await TextTokenizer.load(folderSource(MODEL));
    lora = GpuLora.create(ctx, await importPeft(folderSource(ADAPTER), model.spec));
    server = await startServer({ model, tokenizer, lora, id: 'stories260K-lora' }, { port: 0, log: (l) => log.push(l) });
    client = new OpenAI({ baseURL: server.url, apiKey: 'unused', maxRetries: 0 });
    expected.prompt = await generate(['--prompt', PROMPT, '--temperature', '0']);
    expected.promptSampled = await generate(['--prompt', PROMPT, ...SAMPLED_ARGS]);
    expected.input = await generate(['--input', INPUT]);
    expected.inputSampled = await generate(['--input', INPUT, ...SAMPLED_ARGS]);
  });
  afterAll(async () => {
    await server?.close();
    lora?.destroy();
    model?.destroy();
  });

  it('listens on 127.0.0.1 by default, at the port the system picked', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/v1`);
    // The four generate runs differ: the adapter's greedy and sampled answers are not all the same text.
    expect(new Set(Object.values(expected)).size).toBe(4);
    expect(expected.prompt.startsWith(', there was')).toBe(true);
  });

  it('/v1/completions: the openai client gets generate --prompt’s text, greedy and sampled, not streamed and streamed', async () => {
    const greedy = await client.completions.create({ model: 'any-name', prompt: PROMPT, max_tokens: N, temperature: 0 });
    expect(greedy.choices[0].text).toBe(expected.prompt);
    expect(greedy.choices[0].finish_reason).toBe('length');
    expect(greedy.object).toBe('text_completion');
    expect(greedy.model).toBe('stories260K-lora');
    expect(greedy.usage).toEqual({ prompt_tokens: tokenizer.encode(PROMPT).length, completion_tokens: N, total_tokens: tokenizer.encode(PROMPT).length + N });

    const sampled = await client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: N, ...SAMPLED });
    expect(sampled.choices[0].text).toBe(expected.promptSampled);

    const stream = await client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: N, ...SAMPLED, stream: true });
    const pieces: string[] = [];
    const finish: (string | null)[] = [];
    for await (const chunk of stream) {
      pieces.push(chunk.choices[0].text);
      finish.push(chunk.choices[0].finish_reason);
    }
    expect(pieces.join('')).toBe(expected.promptSampled);
    expect(pieces.length).toBeGreaterThan(5); // (streamed in pieces, not at once)
    expect(finish.at(-1)).toBe('length');
    expect(finish.slice(0, -1).every((f) => f === null)).toBe(true);
  });

  it('/v1/chat/completions: a user message gets generate --input’s answer (the plain template), greedy and sampled, streamed and not', async () => {
    const messages = [{ role: 'user' as const, content: INPUT }];
    const greedy = await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: N, temperature: 0 });
    const choice = greedy.choices[0];
    expect(choice.message.content).toBe(expected.input);
    expect(choice.message.role).toBe('assistant');
    expect(greedy.object).toBe('chat.completion');
    expect(greedy.model).toBe('stories260K-lora');
    const promptTokens = formatPrompt(INPUT, tokenizer).length;
    expect(greedy.usage?.prompt_tokens).toBe(promptTokens);
    // EOS ends the answer ('stop', the EOS counted) or max_tokens does ('length').
    const used = greedy.usage!.completion_tokens;
    expect(choice.finish_reason).toBe(used < N ? 'stop' : 'length');
    expect(used).toBeLessThanOrEqual(N);

    const sampled = await client.chat.completions.create({ model: 'x', messages, max_tokens: N, ...SAMPLED });
    expect(sampled.choices[0].message.content).toBe(expected.inputSampled);

    const stream = await client.chat.completions.create({ model: 'x', messages, max_tokens: N, ...SAMPLED, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe(expected.inputSampled);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(sampled.usage);
    expect(chunks.at(-2)!.choices[0].finish_reason).toBe(sampled.choices[0].finish_reason);
    expect(chunks.slice(0, -2).every((c) => c.choices[0].finish_reason === null && c.usage === null)).toBe(true);
  });

  it('the stream is OpenAI’s SSE: data lines, one id for all chunks, the role first, the finish chunk, then [DONE]', async () => {
    const r = await post(`${server.url}/chat/completions`, { messages: [{ role: 'user', content: INPUT }], max_tokens: 6, temperature: 0, stream: true });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { events, done } = parseSse(await r.text());
    expect(done).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(String(events[0].id)).toMatch(/^chatcmpl-/);
    expect(events.every((e) => e.object === 'chat.completion.chunk' && e.model === 'stories260K-lora' && !('usage' in e))).toBe(true);
    const choices = events.map((e) => (e.choices as { delta: Record<string, string>; finish_reason: string | null }[])[0]);
    expect(choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(choices.at(-1)).toMatchObject({ delta: {}, finish_reason: 'length' });
    expect(choices.slice(1, -1).map((c) => c.delta.content).join('')).toBe(await generate(['--input', INPUT], 6));

    const t = await post(`${server.url}/completions`, { prompt: PROMPT, max_tokens: 4, temperature: 0, stream: true });
    const text = parseSse(await t.text());
    expect(text.done).toBe(true);
    expect(text.events.every((e) => e.object === 'text_completion' && String(e.id).startsWith('cmpl-'))).toBe(true);
    expect(text.events.map((e) => (e.choices as { text: string }[])[0].text).join('')).toBe(await generate(['--prompt', PROMPT], 4));
  });

  it('stop strings end the answer before them, streamed and not; the streamed pieces never show any of the stop string', async () => {
    // The greedy continuation reads ', there was a little girl named Lily. ...'.
    const cut = expected.prompt.indexOf(' girl');
    expect(cut).toBeGreaterThan(0);
    const r = await client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: N, temperature: 0, stop: [' girl', 'zzz'] });
    expect(r.choices[0].text).toBe(expected.prompt.slice(0, cut));
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.usage!.completion_tokens).toBeLessThan(N); // generation ended there

    const stream = await client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: N, temperature: 0, stop: ' girl', stream: true });
    const pieces: string[] = [];
    for await (const chunk of stream) pieces.push(chunk.choices[0].text);
    expect(pieces.join('')).toBe(expected.prompt.slice(0, cut));

    const chat = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: INPUT }], max_tokens: N, temperature: 0, stop: [expected.input.slice(3, 6)] });
    expect(chat.choices[0].message.content).toBe(expected.input.slice(0, expected.input.indexOf(expected.input.slice(3, 6))));
    expect(chat.choices[0].finish_reason).toBe('stop');
  });

  it('malformed requests get 400s with OpenAI error objects, which the openai client raises as BadRequestError', async () => {
    const cases: [() => Promise<unknown>, string | null, RegExp][] = [
      [() => client.chat.completions.create({ model: 'x' } as never), 'messages', /'messages' is required/],
      [() => client.chat.completions.create({ model: 'x', messages: 'hi' } as never), 'messages', /must be a list/],
      [() => client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }], n: 2 }), 'n', /one choice per request/],
      [() => client.chat.completions.create({ model: 'x', messages: [{ role: 'wizard', content: 'hi' }] } as never), 'messages.[0].role', /Supported values are/],
      [() => client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }], temperature: 'hot' } as never), 'temperature', /must be a number/],
      [() => client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }], max_tokens: -3 }), 'max_tokens', /integer from 1/],
      [() => client.completions.create({ model: 'x', prompt: ['a', 'b'] }), 'prompt', /one prompt per request/],
      [() => client.completions.create({ model: 'x', prompt: 'word '.repeat(600), max_tokens: 1 }), 'prompt', /more than the model's 512 positions/],
    ];
    for (const [call, param, message] of cases) {
      const e = await call().then(
        () => expect.fail('expected a 400'),
        (err: unknown) => err,
      );
      expect(e, String(message)).toBeInstanceOf(OpenAI.BadRequestError);
      const err = e as InstanceType<typeof OpenAI.BadRequestError>;
      expect(err.status).toBe(400);
      expect(err.param).toBe(param);
      expect(err.type).toBe('invalid_request_error');
      expect(err.message).toMatch(message);
    }

    const bad = await post(`${server.url}/chat/completions`, '{"messages": [');
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', param: null, code: 'invalid_json' });
    expect(body.error.message).toMatch(/not valid JSON/);
    expect((await post(`${server.url}/completions`, '[1, 2]')).status).toBe(400);
  });

  it('wrong paths, methods, content types and sizes: 404, 405, 415, 413; a foreign Host header: 403', async () => {
    const notFound = await fetch(`${server.url}/embeddings`, { method: 'POST' });
    expect(notFound.status).toBe(404);
    expect(((await notFound.json()) as { error: { message: string } }).error.message).toBe('Invalid URL (POST /v1/embeddings)');
    const wrongMethod = await fetch(`${server.url}/chat/completions`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    const preflight = await fetch(`${server.url}/chat/completions`, { method: 'OPTIONS', headers: { Origin: 'https://example.com' } });
    expect(preflight.status).toBe(405); // no CORS: browsers' cross-origin requests are refused
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const form = await fetch(`${server.url}/completions`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ prompt: 'x' }) });
    expect(form.status).toBe(415);
    expect(((await form.json()) as { error: { message: string } }).error.message).toMatch(/Content-Type: application\/json/);
    const huge = await post(`${server.url}/completions`, { prompt: 'x'.repeat(1.5 * 2 ** 20) });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { code: string } }).error.code).toBe('request_too_large');

    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/v1/models', headers: { Host: 'attacker.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('/v1/models lists the served model; retrieving it works, any other id is a 404', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => ({ id: m.id, object: m.object, owned_by: m.owned_by }))).toEqual([{ id: 'stories260K-lora', object: 'model', owned_by: 'webgpu-lora' }]);
    expect((await client.models.retrieve('stories260K-lora')).id).toBe('stories260K-lora');
    await expect(client.models.retrieve('gpt-4o')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('requests sent at once wait their turn for the GPU, and each gets its own answer', async () => {
    let peakWaiting = 0;
    const watch = setInterval(() => (peakWaiting = Math.max(peakWaiting, server.queue.waiting)), 2);
    const messages = [{ role: 'user' as const, content: INPUT }];
    const streamed = async () => {
      let text = '';
      for await (const c of await client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: N, ...SAMPLED, stream: true })) text += c.choices[0].text;
      return text;
    };
    const answers = await Promise.all([
      client.chat.completions.create({ model: 'x', messages, max_tokens: N, ...SAMPLED }).then((r) => r.choices[0].message.content),
      client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: N, temperature: 0 }).then((r) => r.choices[0].text),
      streamed(),
      client.chat.completions.create({ model: 'x', messages, max_tokens: N, temperature: 0 }).then((r) => r.choices[0].message.content),
    ]);
    clearInterval(watch);
    expect(answers).toEqual([expected.inputSampled, expected.prompt, expected.promptSampled, expected.input]);
    expect(peakWaiting).toBeGreaterThanOrEqual(1);
  });

  it('a client that goes away mid-stream ends its generation; the next request is answered', async () => {
    const controller = new AbortController();
    const stream = await client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: 400, temperature: 0, stream: true }, { signal: controller.signal });
    let pieces = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0].text && ++pieces === 3) controller.abort();
      }
    } catch {
      // (the abort)
    }
    const after = await client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: N, temperature: 0 });
    expect(after.choices[0].text).toBe(expected.prompt);
    expect(log.some((l) => /^POST \/v1\/completions closed by the client/.test(l))).toBe(true);
  });

  it('close() ends a generation in progress with a 503 and stops listening', async () => {
    const other = await startServer({ model, tokenizer, lora, id: 'closing' }, { port: 0 });
    const otherClient = new OpenAI({ baseURL: other.url, apiKey: 'unused', maxRetries: 0 });
    const long = otherClient.completions.create({ model: 'x', prompt: PROMPT, max_tokens: 400, temperature: 0 }).then(
      () => 'answered',
      (e: InstanceType<typeof OpenAI.APIError>) => `${e.status} ${e.message}`,
    );
    while (!other.queue.busy) await new Promise((r) => setTimeout(r, 5));
    await other.close();
    expect(await long).toMatch(/^503 .*the server is shutting down/);
    expect(other.queue.busy).toBe(false);
    await expect(fetch(`${other.url}/models`)).rejects.toThrow();
  });
});
