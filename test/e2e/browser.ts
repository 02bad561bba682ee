// End-to-end test plumbing: the demo served by Vite on 127.0.0.1 (with the fixture models under
// /models/, Range requests supported), and Debian's Chromium driven by playwright-core with
// WebGPU on (SwiftShader where there is no GPU).
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

export const CHROMIUM = '/usr/bin/chromium';

/** Serve files under `root` at `prefix`, with HEAD and single-range GET support. */
function staticFiles(prefix: string, root: string) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith(prefix)) return next();
    const path = normalize(join(root, decodeURIComponent(url.pathname.slice(prefix.length))));
    if (!path.startsWith(root) || !existsSync(path) || !statSync(path).isFile()) {
      res.statusCode = 404;
      return res.end();
    }
    const size = statSync(path).size;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Length', String(end - start + 1));
    if (range) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
    if (req.method === 'HEAD') return res.end();
    createReadStream(path, { start, end }).pipe(res);
  };
}

/** The demo page's dev server, with `modelsDir` served at /models/. */
export async function startDemoServer(modelsDir: string): Promise<{ url: string; server: ViteDevServer }> {
  const server = await createServer({
    configFile: false,
    root: join(import.meta.dirname, '..', '..', 'demo'),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
    plugins: [{ name: 'fixture-models', configureServer: (s) => void s.middlewares.use(staticFiles('/models/', modelsDir)) }],
  });
  await server.listen();
  const address = server.httpServer!.address();
  if (!address || typeof address === 'string') throw new Error('the demo server has no TCP address');
  return { url: `http://127.0.0.1:${address.port}/`, server };
}

/** Headless Chromium with WebGPU and no background network traffic (Playwright gives it a fresh profile). */
export function launchChromium(): Promise<Browser> {
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
