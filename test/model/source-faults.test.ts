// Servers that misbehave the way real ones do (issue 15, "network"), each a real node:http or
// node:net server on 127.0.0.1: one that closes the connection halfway through a body (cleanly or
// with a reset), one that sends headers and then nothing, one that accepts a connection and never
// answers, one that has no model at all. Every failure names the URL with the file, a stall fails
// within the stall timeout, and the CLI's download progress prints the lines it should.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveModelSource as cliModelSource } from '../../src/cli/model-source.js';
import { DownloadPrinter, describeBytes } from '../../src/cli/progress.js';
import { cachedUrlSource } from '../../src/model/cached-source.js';
import { loadModelSpec } from '../../src/model/config.js';
import { resolveModelSource } from '../../src/model/source-node.js';
import { STALL_TIMEOUT_MS, urlSource } from '../../src/model/source.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { withFakeCaches } from './fake-caches.js';

const BODY = Uint8Array.from({ length: 4096 }, (_, i) => i % 251);
const CONFIG = new TextEncoder().encode('{"model_type": "llama"}');
const BIG = new Uint8Array(2_000_000);
const FILES: Record<string, Uint8Array> = { 'config.json': CONFIG, 'model.safetensors': BODY, 'big.bin': BIG };

/**
 * /<mode>/<folder>/<file>: ok serves FILES (HEAD, whole GETs, ranges); half sends the headers and
 * half the body, then closes the socket (reset: with a TCP reset); stall sends the headers and a
 * quarter of the body, then nothing; silent never answers; missing is 404 for everything.
 */
function handle(req: IncomingMessage, res: ServerResponse): void {
  const [mode, , file] = (req.url ?? '/').split('/').slice(1);
  const bytes = FILES[file ?? ''];
  if (mode === 'silent') return;
  if (mode === 'missing' || !bytes) return void res.writeHead(404).end('not found');
  if (req.method === 'HEAD') return void res.writeHead(200, { 'Content-Length': bytes.length }).end();
  if (mode === 'half' || mode === 'reset') {
    res.writeHead(200, { 'Content-Length': bytes.length });
    res.write(bytes.subarray(0, bytes.length / 2), () => setTimeout(() => (mode === 'reset' ? req.socket.resetAndDestroy() : req.socket.destroy()), 20));
    return;
  }
  if (mode === 'stall') {
    res.writeHead(200, { 'Content-Length': bytes.length });
    return void res.write(bytes.subarray(0, bytes.length / 4));
  }
  const r = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (r) {
    const [a, b] = [Number(r[1]), Math.min(Number(r[2]), bytes.length - 1)];
    res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${bytes.length}`, 'Content-Length': b - a + 1 });
    return void res.end(bytes.subarray(a, b + 1));
  }
  res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
}

/** The message of the error fn rejects with, and how long it took to come. */
async function failure(fn: () => Promise<unknown>): Promise<{ message: string; ms: number }> {
  const t0 = performance.now();
  const e = await fn().then(() => new Error('resolved instead of failing'), (x: unknown) => x as Error);
  return { message: e.message, ms: performance.now() - t0 };
}

describe('urlSource against servers that fail mid-way', () => {
  const server = createServer(handle);
  const sockets = new Set<Socket>();
  // Accepts connections and never sends a byte (nor reads one).
  const mute = createTcpServer((s) => void sockets.add(s));
  let base = '';
  let muteBase = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    muteBase = `http://127.0.0.1:${(mute.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    await Promise.all([server, mute].map((s) => new Promise((resolve) => s.close(resolve))));
  });
  const fast = { stallTimeoutMs: 300 };

  it('names the URL and the bytes received when the server closes the connection mid-body', async () => {
    const url = `${base}/half/m/model.safetensors`;
    const closed = await failure(() => urlSource(`${base}/half/m`).read('model.safetensors'));
    expect(closed.message).toMatch(new RegExp(`^GET ${url}: the connection closed after \\d+ of 4096 bytes \\(terminated`));
    const reset = await failure(() => urlSource(`${base}/reset/m`).read('model.safetensors', 0, 4000));
    expect(reset.message).toMatch(new RegExp(`^GET ${base}/reset/m/model.safetensors: the connection closed after \\d+ of 4096 bytes \\(.*(terminated|ECONNRESET)`));
  });

  it('fails a body that stalls after its headers within the stall timeout, naming the URL', async () => {
    expect(STALL_TIMEOUT_MS).toBe(30_000);
    const { message, ms } = await failure(() => urlSource(`${base}/stall/m`, fast).read('model.safetensors'));
    expect(message).toBe(`GET ${base}/stall/m/model.safetensors: the server sent nothing for 0.3 s after 1024 of 4096 bytes (a stalled connection; UrlSourceOptions.stallTimeoutMs sets the limit)`);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(3000);
  });

  it('fails a request that gets no answer at all (HTTP and raw TCP) within the stall timeout', async () => {
    const silent = await failure(() => urlSource(`${base}/silent/m`, fast).exists('config.json'));
    expect(silent.message).toBe(`HEAD ${base}/silent/m/config.json: the server sent nothing for 0.3 s after the request (a stalled connection; UrlSourceOptions.stallTimeoutMs sets the limit)`);
    const mute = await failure(() => urlSource(`${muteBase}/m`, fast).read('model.safetensors', 0, 8));
    expect(mute.message).toMatch(new RegExp(`^GET ${muteBase}/m/model.safetensors: the server sent nothing for 0.3 s after the request`));
    for (const { ms } of [silent, mute]) expect(ms).toBeLessThan(3000);
  });

  it('says a base URL that 404s is not a model folder, before the tokenizer or the config is looked for', async () => {
    const folder = `${base}/missing/no-such-model`;
    const want = `HEAD ${folder}/config.json: HTTP 404 Not Found (is ${folder} a model folder? A Hugging Face model folder has a config.json)`;
    const source = resolveModelSource(`${folder}/`);
    expect((await failure(() => TextTokenizer.load(source))).message).toBe(want);
    expect((await failure(() => loadModelSpec(source))).message).toBe(want);
    expect((await failure(() => resolveModelSource(folder).read('model.safetensors', 0, 8))).message).toBe(want);
    // A model folder passes the check once and reads as before.
    expect(await resolveModelSource(`${base}/ok/m`).read('model.safetensors', 8, 16)).toEqual(BODY.slice(8, 16));
  });

  it('cachedUrlSource fails the same way on a closed or stalled download', async () => {
    await withFakeCaches(async () => {
      const closed = await failure(() => cachedUrlSource(`${base}/half/m`).read('model.safetensors', 0, 8));
      expect(closed.message).toMatch(new RegExp(`^GET ${base}/half/m/model.safetensors: the connection closed after \\d+ of 4096 bytes \\(terminated`));
      const stalled = await failure(() => cachedUrlSource(`${base}/stall/m`, fast).read('model.safetensors'));
      expect(stalled.message).toBe(`GET ${base}/stall/m/model.safetensors: the server sent nothing for 0.3 s after 1024 of 4096 bytes (a stalled connection; UrlSourceOptions.stallTimeoutMs sets the limit)`);
      expect(stalled.ms).toBeLessThan(3000);
      const silent = await failure(() => cachedUrlSource(`${base}/silent/m`, fast).read('config.json'));
      expect(silent.message).toMatch(new RegExp(`^GET ${base}/silent/m/config.json: the server sent nothing for 0.3 s after the request`));
      expect(await cachedUrlSource(`${base}/ok/m`).read('model.safetensors', 4, 8)).toEqual(BODY.slice(4, 8));
    });
  });

  it('reports the file size with the progress of ranged reads, and the CLI prints it', async () => {
    const events: [string, number, number, number?][] = [];
    const src = urlSource(`${base}/ok/m`, { onProgress: (...e) => events.push(e) });
    expect(await src.size('model.safetensors')).toBe(4096);
    await src.read('model.safetensors', 0, 1024);
    expect(events.at(-1)).toEqual(['model.safetensors', 1024, 1024, 4096]);

    const lines: string[] = [];
    const printer = new DownloadPrinter({ write: (s: string) => lines.push(s) > 0 }, 0, () => 0);
    const cli = cliModelSource(`${base}/ok/m`, printer);
    expect(await cli.size('big.bin')).toBe(2_000_000);
    await cli.read('big.bin', 0, 1_000_000);
    await cli.read('big.bin', 1_000_000);
    // Chunk sizes vary: a line at each further 10 % of the file (a pipe), up to the whole of it.
    const percents = lines.map((l) => Number(/^downloading big\.bin: (\d+)% \(\d+\.\d of 2\.0 MB\)\n$/.exec(l)?.[1]));
    expect(percents.every((x, i) => x >= 0 && (i === 0 || Math.floor(x / 10) > Math.floor(percents[i - 1] / 10)))).toBe(true);
    expect(lines.at(-1)).toBe('downloading big.bin: 100% (2.0 of 2.0 MB)\n');
  });
});

describe('download progress lines (the CLI prints them to stderr for URL models)', () => {
  const MB = 1_000_000;
  /** A printer on a fake stream and a clock the test moves. */
  function printer(tty: boolean) {
    const chunks: string[] = [];
    let now = 0;
    const p = new DownloadPrinter({ isTTY: tty, columns: 80, write: (s: string) => chunks.push(s) > 0 }, 1000, () => now);
    return { chunks, p, at: (ms: number) => (now = ms) };
  }

  it('describes bytes as MB done of total with the percent', () => {
    expect(describeBytes('downloading model.safetensors', 120.46 * MB, 988.1 * MB)).toBe('downloading model.safetensors: 12% (120.5 of 988.1 MB)');
    expect(describeBytes('downloading x', 3.2 * MB, Infinity)).toBe('downloading x: 3.2 MB');
  });

  it('in a file or pipe: quiet for the first second of a file, then a line at each 10 % of the file, ranged reads adding up', () => {
    const { chunks, p, at } = printer(false);
    // Two ranged reads of 5 MB each of a 10 MB file, 1 MB arriving every 250 ms (the first at 0).
    for (const read of [0, 1]) {
      for (let mb = 1; mb <= 5; mb++) {
        at((read * 5 + mb - 1) * 250);
        p.update('model.safetensors', mb * MB, 5 * MB, 10 * MB);
      }
    }
    p.update('model.safetensors', 5 * MB, 5 * MB, 10 * MB); // read again later: already shown whole
    expect(chunks).toEqual([
      'downloading model.safetensors: 50% (5.0 of 10.0 MB)\n', 'downloading model.safetensors: 60% (6.0 of 10.0 MB)\n',
      'downloading model.safetensors: 70% (7.0 of 10.0 MB)\n', 'downloading model.safetensors: 80% (8.0 of 10.0 MB)\n',
      'downloading model.safetensors: 90% (9.0 of 10.0 MB)\n', 'downloading model.safetensors: 100% (10.0 of 10.0 MB)\n',
    ]);
  });

  it('prints nothing for a quick file, and on a TTY redraws one line that always ends in a newline', () => {
    const { chunks, p, at } = printer(true);
    p.update('config.json', 700, 700); // whole within its quiet second
    p.update('model.safetensors', 0.5 * MB, 4 * MB, 4 * MB); // its quiet second starts
    at(1500);
    p.update('model.safetensors', 1 * MB, 4 * MB, 4 * MB);
    at(1550);
    p.update('model.safetensors', 2 * MB, 4 * MB, 4 * MB); // within 100 ms of the last draw: skipped
    at(1700);
    p.update('model.safetensors', 3 * MB, 4 * MB, 4 * MB);
    p.update('model.safetensors', 4 * MB, 4 * MB, 4 * MB);
    expect(chunks).toEqual([
      'downloading model.safetensors: 25% (1.0 of 4.0 MB)\x1b[K\n',
      '\x1b[1A\rdownloading model.safetensors: 75% (3.0 of 4.0 MB)\x1b[K\n',
      '\x1b[1A\rdownloading model.safetensors: 100% (4.0 of 4.0 MB)\x1b[K\n',
    ]);
  });
});
