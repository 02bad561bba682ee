// End-to-end test plumbing: the built demo (dist/demo) and widget (dist/widget, each rebuilt first
// whenever its sources changed since it was built: test/setup/dist.ts) served on 127.0.0.1 by a
// small static server, with fixture model folders under /models/ (HEAD and single Range requests
// supported), and Debian's Chromium driven by playwright-core with WebGPU on (SwiftShader where
// there is no GPU).
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { ensureBuilt } from '../setup/dist.js';

export const CHROMIUM = '/usr/bin/chromium';
export const DIST = join(import.meta.dirname, '..', '..', 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.jsonl': 'text/plain; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves each URL prefix from its folder (the longest matching prefix wins; a path ending in '/'
 * serves index.html). HEAD gets the headers alone; `Range: bytes=a-b` gets a 206. `headers` go on
 * every response (a Content-Security-Policy, CORS headers).
 */
export async function startStaticServer(routes: Record<string, string>, headers: Record<string, string> = {}): Promise<StaticServer> {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const server: Server = createServer((req, res) => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    const url = new URL(req.url ?? '/', 'http://x');
    const prefix = prefixes.find((p) => url.pathname.startsWith(p));
    if (!prefix) return void res.writeHead(404).end();
    const root = routes[prefix];
    let path = normalize(join(root, decodeURIComponent(url.pathname.slice(prefix.length))));
    if (url.pathname.endsWith('/')) path = join(path, 'index.html');
    if (!path.startsWith(root) || !existsSync(path) || !statSync(path).isFile()) return void res.writeHead(404).end();
    const size = statSync(path).size;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    res.setHeader('Content-Type', TYPES[extname(path)] ?? 'application/octet-stream');
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Length', String(end - start + 1));
    if (range) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
    if (req.method === 'HEAD') return void res.end();
    createReadStream(path, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the test server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The built demo at /, the widget at /widget/, and `models` (name → folder) under /models/<name>/; `headers` on every response. */
export function startDemoServer(models: Record<string, string>, headers: Record<string, string> = {}): Promise<StaticServer> {
  ensureBuilt('demo');
  ensureBuilt('widget');
  const routes: Record<string, string> = { '/': join(DIST, 'demo'), '/widget/': join(DIST, 'widget') };
  for (const [name, dir] of Object.entries(models)) routes[`/models/${name}/`] = dir;
  return startStaticServer(routes, headers);
}

/**
 * Headless Chromium with WebGPU and no background network traffic (Playwright gives it a fresh
 * profile). On SwiftShader the "GPU" is the CPU: its GPU process then competes with the pages'
 * main threads for the same cores, which a machine with a GPU does not do. So, while the browser
 * runs, every thread of its GPU process (which starts after the browser, and starts threads as
 * WebGPU work arrives) is kept at the lowest CPU priority, and what the tests measure of a page's
 * main thread is the page's own behaviour.
 */
export async function launchChromium(): Promise<Browser> {
  const before = new Set(gpuProcesses());
  const browser = await launchBrowser();
  const demote = () => {
    for (const pid of gpuProcesses()) if (!before.has(pid)) lowestPriority(pid);
  };
  const timer = setInterval(demote, 200);
  browser.on('disconnected', () => clearInterval(timer));
  return browser;
}

/** The pids of Chromium GPU processes running now. */
function gpuProcesses(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('--type=gpu-process');
    } catch {
      return false; // gone, or not ours to read
    }
  });
}

/** Nice 19 for every thread of process `pid` (Chromium may raise a thread's priority again; this runs repeatedly). */
function lowestPriority(pid: number): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return; // the process ended
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), 19);
    } catch {
      // the thread ended meanwhile
    }
  }
}

function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--enable-unsafe-webgpu',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** Page errors and console errors of every page in a context (404s of optional model files aside). */
export function collectErrors(context: BrowserContext): string[] {
  const errors: string[] = [];
  context.on('page', (page) => {
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(`console: ${m.text()}`));
  });
  return errors;
}

/**
 * A browser test suite's fixtures: the demo server with `models` (name → folder) and Chromium,
 * started before the suite's tests and closed after them. Chromium is part of what .ci/run
 * installs; its absence is a broken setup, not a reason to skip.
 */
export function demoSuite(models: Record<string, string>): { readonly browser: Browser; readonly server: StaticServer } {
  const fixtures = {} as { browser: Browser; server: StaticServer };
  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} (Debian's chromium package) is needed`).toBe(true);
    fixtures.server = await startDemoServer(models);
    fixtures.browser = await launchChromium();
  });
  afterAll(async () => {
    await fixtures.browser?.close();
    await fixtures.server?.close();
  });
  return fixtures;
}
