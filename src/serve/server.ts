// An OpenAI-compatible HTTP server for one model (with an optional LoRA adapter), on Node's own
// http module:
//
//   POST /v1/chat/completions   messages → the chat template (or the plain template) → an answer
//   POST /v1/completions        a prompt continued as raw text, as `webgpu-lora generate --prompt`
//   GET  /v1/models             the served model (a request may name any model: it gets this one)
//   GET  /v1/models/{id}        the served model, when {id} is its id
//
// Each request is checked first (requests.ts, prompt.ts: a 400 naming the field), then waits for
// the GPU in a queue that runs one generation at a time (queue.ts); `stream: true` answers with
// server-sent events (sse.ts). A client that goes away ends its generation between two tokens.
//
// Safety on a shared machine: the server binds to 127.0.0.1 unless told otherwise; with an API key
// every request needs it (auth.ts, 401); POST bodies must be JSON with that content type (body.ts),
// and no CORS headers are ever sent, so a web page in a browser cannot use the server (a
// cross-origin JSON request needs a preflight, which gets a 405); bound to a loopback address, it
// also answers only requests whose Host header names a loopback host (403 otherwise), which stops
// a web page from reaching it through a DNS name rebound to 127.0.0.1.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiKeyChecker } from './auth.js';
import { DEFAULT_MAX_BODY_BYTES, readJsonBody } from './body.js';
import { complete, type Completion, type ServedModel } from './complete.js';
import { ApiError } from './errors.js';
import { chatPrompt, completionPrompt, type Prompt } from './prompt.js';
import { GpuQueue } from './queue.js';
import { parseChatRequest, parseCompletionRequest, type SamplingRequest } from './requests.js';
import { chatChunk, chatCompletion, modelObject, responseHead, textChunk, textCompletion, usageChunk } from './responses.js';
import { SseWriter } from './sse.js';

export interface ServerOptions {
  /** The address to listen on; default 127.0.0.1 (this machine only). */
  host?: string;
  /** The port; 0 (the default) picks a free one (the running server's `port` tells which). */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The largest request body read, in bytes (default 1 MiB; larger ones get a 413). */
  maxBodyBytes?: number;
  /** The seed of a request that gives none (default: a random one per request). */
  randomSeed?: () => number;
  /** Called with one line per answered request (method, path, status, time). */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** The API's base URL, e.g. http://127.0.0.1:8000/v1 (what OpenAI clients take as baseURL). */
  url: string;
  host: string;
  port: number;
  queue: GpuQueue;
  /**
   * Stops the server: no new connections or requests, the generation in progress ended at its
   * next token, the queued ones answered with a 503; resolves once the GPU is no longer used.
   * The model itself is the caller's to destroy.
   */
  close(): Promise<void>;
}

/** Each path and the one method it takes. */
const ROUTES = new Map([
  ['/v1/chat/completions', 'POST'],
  ['/v1/completions', 'POST'],
  ['/v1/models', 'GET'],
]);

/** Why a generation was aborted. */
const CLIENT_GONE = 'the client closed the connection';
const SHUTTING_DOWN = 'the server is shutting down';

export async function startServer(served: ServedModel, opts: ServerOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`the port must be an integer from 0 to 65535, got ${port}`);
  const checkKey = apiKeyChecker(opts.apiKey);
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const queue = new GpuQueue();
  const created = Math.floor(Date.now() / 1000);
  const running = new Set<AbortController>();
  const loopbackOnly = isLoopback(host);
  let stopping = false;

  /** The JSON answer of one request (a generation, a model list) or an ApiError. */
  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (loopbackOnly && !isLoopbackHostHeader(req.headers.host)) {
      throw new ApiError(403, `the Host header '${req.headers.host}' is not this machine's; a server bound to ${host} answers requests to localhost only`, null, 'forbidden_host');
    }
    const denied = checkKey(req.headers.authorization);
    if (denied) throw denied;
    if (stopping) throw new ApiError(503, SHUTTING_DOWN, null, 'shutting_down');
    const method = req.method ?? 'GET';
    const modelMatch = /^\/v1\/models\/(.+)$/.exec(path);
    const allowed = ROUTES.get(path) ?? (modelMatch ? 'GET' : undefined);
    if (allowed === undefined) throw new ApiError(404, `Invalid URL (${method} ${path})`, null, 'unknown_url');
    if (method !== allowed) {
      res.setHeader('Allow', allowed);
      throw new ApiError(405, `${path} takes ${allowed} requests, not ${method}`, null, 'method_not_allowed');
    }
    if (path === '/v1/models') return sendJson(res, 200, { object: 'list', data: [modelObject(served.id, created)] });
    if (modelMatch) {
      const id = decodeModelId(modelMatch[1]);
      if (id !== served.id) throw new ApiError(404, `The model '${id}' does not exist; this server serves '${served.id}'`, 'model', 'model_not_found');
      return sendJson(res, 200, modelObject(served.id, created));
    }
    const body = await readJsonBody(req, maxBodyBytes);
    const chat = path === '/v1/chat/completions';
    let request: SamplingRequest;
    let prompt: Prompt;
    if (chat) {
      const r = parseChatRequest(body, opts.randomSeed);
      [request, prompt] = [r, chatPrompt(r.messages, served.model, served.tokenizer)];
    } else {
      const r = parseCompletionRequest(body, opts.randomSeed);
      [request, prompt] = [r, completionPrompt(r.prompt, served.model, served.tokenizer)];
    }

    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(CLIENT_GONE);
    });
    running.add(abort);
    try {
      await queue.run(async () => {
        if (stopping) abort.abort(SHUTTING_DOWN); // (it arrived while the server began to stop)
        abort.signal.throwIfAborted();
        if (!request.stream) {
          const c = await complete(served, prompt, request, { signal: abort.signal });
          sendJson(res, 200, chat ? chatCompletion(responseHead('chatcmpl', served.id), c) : textCompletion(responseHead('cmpl', served.id), c));
        } else {
          await stream(res, chat, request, (onText) => complete(served, prompt, request, { signal: abort.signal, onText }));
        }
      });
    } catch (e) {
      if (abort.signal.aborted && abort.signal.reason === SHUTTING_DOWN) throw new ApiError(503, SHUTTING_DOWN, null, 'shutting_down');
      throw e;
    } finally {
      running.delete(abort);
    }
  }

  /** A streamed answer: the role chunk (chat), a chunk per piece of text, the finish chunk, the usage chunk, [DONE]. */
  async function stream(res: ServerResponse, chat: boolean, request: SamplingRequest, run: (onText: (t: string) => void) => Promise<Completion>): Promise<void> {
    const head = responseHead(chat ? 'chatcmpl' : 'cmpl', served.id);
    const usage = request.includeUsage;
    const sse = new SseWriter(res);
    if (chat) sse.send(chatChunk(head, { role: 'assistant', content: '' }, null, usage));
    // (An error from here on is sent as an event by the request handler: the status is already 200.)
    const c = await run((t) => sse.send(chat ? chatChunk(head, { content: t }, null, usage) : textChunk(head, t, null, usage)));
    if (chat) {
      if (c.reasoning) sse.send(chatChunk(head, { reasoning_content: c.reasoning }, null, usage));
      sse.send(chatChunk(head, {}, c.finishReason, usage));
    } else {
      sse.send(textChunk(head, '', c.finishReason, usage, c.reasoning));
    }
    if (usage) sse.send(usageChunk(head, chat ? 'chat.completion.chunk' : 'text_completion', c));
    sse.done();
  }

  /** The requests being answered (each settles once its response has been written). */
  const answering = new Set<Promise<void>>();

  const server = createServer((req, res) => {
    const started = Date.now();
    const path = (req.url ?? '/').split('?')[0];
    const answer = route(req, res, path)
      .catch((e: unknown) => {
        if (res.writableEnded || res.destroyed) return; // (the client has gone: nobody to tell)
        const err = asApiError(e);
        if (res.headersSent) return new SseWriter(res).fail(err.toBody()); // (a stream that had started)
        if (err.status === 413) res.setHeader('Connection', 'close'); // (the rest of the body is not read)
        sendJson(res, err.status, err.toBody());
      })
      .finally(() => {
        answering.delete(answer);
        opts.log?.(`${req.method} ${path} ${res.destroyed && !res.writableFinished ? 'closed by the client' : res.statusCode} ${((Date.now() - started) / 1000).toFixed(2)} s`);
      });
    answering.add(answer);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${address.port}/v1`,
    host: address.address,
    port: address.port,
    queue,
    close() {
      closed ??= (async () => {
        stopping = true;
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const a of running) a.abort(SHUTTING_DOWN);
        server.closeIdleConnections();
        await queue.idle();
        // The answers still being written (503s), but no longer than a moment (a body still uploading).
        await Promise.race([Promise.allSettled([...answering]), new Promise((r) => setTimeout(r, 2000).unref())]);
        server.closeAllConnections();
        await done;
      })();
      return closed;
    },
  };
}

/** Any error as the ApiError to answer with: a 500 unless it is one already. */
function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(500, `the server failed to answer: ${(e as Error)?.message ?? String(e)}`, null, 'internal_error');
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The model id of a /v1/models/{id} path (ids such as 'org/name' arrive %-encoded). */
function decodeModelId(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(404, `Invalid URL (GET /v1/models/${raw}): the model id is not valid %-encoding`, null, 'unknown_url');
  }
}

/** Whether `host` (an address or name to listen on) is this machine only. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Whether a Host header names a loopback host (with any port); a request without one passes. */
function isLoopbackHostHeader(header: string | undefined): boolean {
  if (header === undefined) return true;
  const name = header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.split(':')[0];
  const n = name.toLowerCase();
  return isLoopback(n) || n.endsWith('.localhost');
}
