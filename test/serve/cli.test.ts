// `webgpu-lora serve` as a user runs it: the binary (bin/webgpu-lora.js on dist/cli), without
// the tests' SwiftShader environment, so that on a machine without a GPU it re-runs itself on
// SwiftShader and must pass SIGTERM on to that re-run. It prints its URL once it listens, checks
// the API key, answers the openai client as `generate --input` answers, and stops cleanly on
// SIGTERM (exit code 0). Usage mistakes through main() in this process.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { cliInProcess } from '../cli/run-cli.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { ensureBuilt } from '../setup/dist.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['webgpu-lora']);
const MODEL = join(SHARED_DIR ?? '', 'models', 'stories260K');
const ADAPTER = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');
const INPUT = 'Tell me a story about a dog.';
const KEY = 'test-key-7d1e';

describe.skipIf(!SHARED_DIR)(`webgpu-lora serve (the binary)${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('prints its URL, needs the API key, answers as generate --input does, and stops on SIGTERM with exit code 0', async () => {
    ensureBuilt('cli');
    const env = { ...process.env };
    for (const k of ['VK_ICD_FILENAMES', 'LD_LIBRARY_PATH', 'XDG_RUNTIME_DIR', 'WEBGPU_LORA_SWIFTSHADER']) delete env[k];
    const proc = spawn(BIN, ['serve', '--model', MODEL, '--adapter', ADAPTER, '--port', '0', '--api-key', KEY, '--name', 'story-teller'], { cwd: ROOT, env });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d) => (stdout += d));
    proc.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve printed no URL within 60 s:\n${stdout}\n${stderr}`)), 60_000);
      const look = () => {
        const m = /at (http:\/\/127\.0\.0\.1:\d+\/v1)\n/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      proc.stdout!.on('data', look);
      proc.on('exit', () => reject(new Error(`serve exited early:\n${stdout}\n${stderr}`)));
    });
    expect(stdout).toMatch(/^webgpu-lora serve: serving story-teller with the adapter .*stories260K-all-linear at http:\/\/127\.0\.0\.1:\d+\/v1\n$/);

    const wrongKey = new OpenAI({ baseURL: url, apiKey: 'not-the-key', maxRetries: 0 });
    await expect(wrongKey.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const noKey = await fetch(`${url}/models`);
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { error: { code: string } }).error.code).toBe('missing_api_key');

    const client = new OpenAI({ baseURL: url, apiKey: KEY, maxRetries: 0 });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['story-teller']);
    const r = await client.chat.completions.create({ model: 'story-teller', messages: [{ role: 'user', content: INPUT }], max_tokens: 16, temperature: 0.7, seed: 2 });
    const gen = await cliInProcess(['generate', '--model', MODEL, '--adapter', ADAPTER, '--input', INPUT, '--max-new-tokens', '16', '--temperature', '0.7', '--seed', '2']);
    expect(gen.status, gen.stderr).toBe(0);
    expect(r.choices[0].message.content).toBe(gen.stdout.slice(0, -1));
    expect(r.model).toBe('story-teller');

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: stopping\n/);
    expect(stderr).toMatch(/webgpu-lora serve: stopped\n/);
    expect(stderr).toMatch(/POST \/v1\/chat\/completions 200/);
    await expect(fetch(`${url}/models`)).rejects.toThrow(); // nothing listens there any more (the re-run ended too)
  });
});

describe('webgpu-lora serve usage', () => {
  it('is in the usage text; a missing --model or a bad --port or --host is a usage error (exit code 2)', async () => {
    const help = await cliInProcess(['help']);
    expect(help.stdout).toMatch(/webgpu-lora serve --model <dir\|url\|hf-id> \[--adapter <dir>\] \[--port N\] \[--host 127\.0\.0\.1\]/);
    for (const [args, message] of [
      [['serve'], /serve needs --model/],
      [['serve', '--model', 'x', '--port', '70000'], /--port must be an integer from 0 to 65535, got '70000'/],
      [['serve', '--model', 'x', '--port', 'eighty'], /--port must be a number, got 'eighty'/],
      [['serve', '--model', 'x', '--host', ''], /--host is empty/],
      [['serve', '--model', 'x', '--api-key', ' '], /--api-key is empty/],
      [['serve', '--model', 'x', '--weights', 'int3'], /--weights must be f32, f16, nf4 or q8/],
    ] as const) {
      const r = await cliInProcess([...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('a model folder that does not exist fails naming it (exit code 1)', async () => {
    const r = await cliInProcess(['serve', '--model', './no/such/model', '--port', '0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no\/such\/model/);
  });
});
