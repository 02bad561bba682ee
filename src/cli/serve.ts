// webgpu-lora serve: an OpenAI-compatible HTTP server (src/serve) for one model with an optional
// LoRA adapter, until SIGINT (Ctrl-C) or SIGTERM, after which it stops cleanly: no new requests,
// the generation in progress ended, the GPU's buffers and the device destroyed. A second signal
// while it stops ends the process at once (Node's default for a signal nobody listens to).
import { parseArgs } from 'node:util';
import { GpuLora } from '../lora/gpu-lora.js';
import { LanguageModel } from '../model/model.js';
import { startServer } from '../serve/server.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import { readAdapter } from './adapter-source.js';
import { deviceOrRerun, integerOption, UsageError, weightsOption } from './common.js';
import { resolveModelSource } from './model-source.js';

export const SERVE_USAGE = `  webgpu-lora serve --model <dir|url|hf-id> [--adapter <dir>] [--port N] [--host 127.0.0.1]
                    [--api-key <key>] [--name <id>] [--weights f32|f16|nf4|q8]
      Serves the model (with the adapter) through OpenAI's API at http://<host>:<port>/v1:
      POST /v1/chat/completions (the messages in the chat template, or the plain template, as
      generate --input), POST /v1/completions (the prompt continued, as generate --prompt),
      GET /v1/models; stream: true streams server-sent events. Requests take turns on the GPU.
      Prints the URL once it listens. --port defaults to 8000; 0 picks a free port. --host
      defaults to 127.0.0.1 (this machine only). --api-key (or WEBGPU_LORA_API_KEY, which other
      users cannot see in the process list) makes every request need "Authorization: Bearer <key>".
      --name is the model id it answers with (default: the --model argument). Stops on Ctrl-C.`;

export const DEFAULT_PORT = 8000;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string' },
      name: { type: 'string' },
      weights: { type: 'string' },
    },
  });
  if (!values.model) throw new UsageError('serve needs --model <dir|url|hf-id>');
  const port = integerOption(values.port, 'port', DEFAULT_PORT);
  if (port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got '${values.port}'`);
  const host = values.host ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host is empty; give an address to listen on, e.g. 127.0.0.1');
  const apiKey = values['api-key'] ?? (process.env.WEBGPU_LORA_API_KEY || undefined);
  if (apiKey !== undefined && apiKey.trim() === '') throw new UsageError('--api-key is empty; give a key, or leave the option out to serve without one');
  const name = values.name ?? values.model;
  const weightStorage = weightsOption(values.weights);

  const ctx = await deviceOrRerun();
  let model: LanguageModel | undefined;
  let lora: GpuLora | undefined;
  try {
    const source = resolveModelSource(values.model);
    const tokenizer = await TextTokenizer.load(source);
    model = await LanguageModel.load(ctx, source, undefined, { weightStorage });
    lora = values.adapter !== undefined ? GpuLora.create(ctx, await readAdapter(values.adapter, model.spec, source)) : undefined;

    const server = await startServer(
      { model, tokenizer, lora, id: name },
      { host, port, apiKey, log: (line) => process.stderr.write(`webgpu-lora serve: ${line}\n`) },
    );
    const local = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host);
    if (!local && apiKey === undefined) process.stderr.write(`webgpu-lora serve: listening on ${host} without an API key: anyone who can reach this machine can use the model\n`);
    process.stdout.write(`webgpu-lora serve: serving ${name}${values.adapter ? ` with the adapter ${values.adapter}` : ''} at ${server.url}\n`);

    // (A re-run on SwiftShader gets these from the process that started it, and SIGTERM when that is gone: common.ts.)
    const why = await new Promise<string>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write(`webgpu-lora serve: ${why}: stopping\n`);
    await server.close();
  } finally {
    lora?.destroy();
    model?.destroy();
    ctx.device.destroy();
  }
  process.stderr.write('webgpu-lora serve: stopped\n');
  return 0;
}
