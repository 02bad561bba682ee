// The Hugging Face access token (src/model/hub.ts): sent as `Authorization: Bearer <token>` to the
// Hub's origin and never to another host (nor to the CDN a Hub redirect leads to), and the Hub's
// 401 and 403 answers explained: a gated model without a token, a refused token. A local HTTP
// server stands in for the Hub (the hub endpoint is configurable), another for everything else.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hfToken, takeHfTokenOption, UsageError } from '../../src/cli/common.js';
import { resolveModelSource as cliModelSource } from '../../src/cli/model-source.js';
import { cachedUrlSource } from '../../src/model/cached-source.js';
import { HF_ENDPOINT, HubAccessError, hubAccessKind, hubDefaults, hubModelUrl, hubRepoOf, normalizeHubToken, setHubDefaults } from '../../src/model/hub.js';
import { nodeHubOptions, resolveModelSource } from '../../src/model/source-node.js';
import { urlSource } from '../../src/model/source.js';
import { withFakeCaches } from './fake-caches.js';

const GOOD = 'hf_goodToken123';
const NO_ACCESS = 'hf_validButNotAccepted';
const CONFIG = new TextEncoder().encode('{"model_type": "llama"}');
const WEIGHTS = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) % 251);
const FILES: Record<string, Uint8Array> = { 'config.json': CONFIG, 'model.safetensors': WEIGHTS };

interface Logged {
  server: 'hub' | 'other';
  method: string;
  path: string;
  authorization: string | null;
}

/** Serves FILES (HEAD, ranges) under any path ending in /<file>. */
function serveFile(req: IncomingMessage, res: ServerResponse, file: string): void {
  const bytes = FILES[file];
  if (!bytes) return void res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end();
  const r = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (req.method === 'HEAD') return void res.writeHead(200, { 'Content-Length': bytes.length }).end();
  if (r) {
    const [a, b] = [Number(r[1]), Math.min(Number(r[2]), bytes.length - 1)];
    res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${bytes.length}`, 'Content-Length': b - a + 1 });
    return void res.end(bytes.subarray(a, b + 1));
  }
  res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
}

describe('the Hugging Face token against a stand-in Hub', () => {
  const log: Logged[] = [];
  let hub = '';
  let other = '';
  const record = (server: Logged['server'], req: IncomingMessage) =>
    log.push({ server, method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization ?? null });
  // The stand-in Hub: open/model for anyone; gated/model only with GOOD (none: 401 GatedRepo; an
  // unknown token: 401; NO_ACCESS: 403); cdn/model redirects to the other server, as the Hub's
  // resolve URLs redirect to its CDN.
  const hubServer: Server = createServer((req, res) => {
    record('hub', req);
    const m = /^\/([\w.-]+)\/([\w.-]+)\/resolve\/main\/([\w.-]+)$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(404).end();
    const [repo, file] = [`${m[1]}/${m[2]}`, m[3]];
    const auth = req.headers.authorization;
    if (repo === 'gated/model') {
      if (!auth) return void res.writeHead(401, { 'X-Error-Code': 'GatedRepo', 'X-Error-Message': 'Access to model gated/model is restricted.' }).end();
      if (auth === `Bearer ${NO_ACCESS}`) return void res.writeHead(403, { 'X-Error-Code': 'GatedRepo' }).end();
      if (auth !== `Bearer ${GOOD}`) return void res.writeHead(401, { 'X-Error-Message': 'Invalid credentials in Authorization header' }).end();
    }
    if (repo === 'cdn/model') return void res.writeHead(302, { Location: `${other}/cdn-object/${file}?signature=abc` }).end();
    if (repo === 'cdn/expired') return void res.writeHead(302, { Location: `${other}/deny/${file}` }).end();
    serveFile(req, res, file);
  });
  const otherServer: Server = createServer((req, res) => {
    record('other', req);
    if (req.url?.startsWith('/deny/')) return void res.writeHead(403).end();
    serveFile(req, res, new URL(req.url ?? '/', 'http://x').pathname.split('/').pop() ?? '');
  });
  const listen = async (s: Server) => {
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  beforeAll(async () => {
    hub = await listen(hubServer);
    other = await listen(otherServer);
  });
  afterAll(async () => {
    for (const s of [hubServer, otherServer]) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });
  afterEach(() => {
    log.length = 0;
    setHubDefaults({ token: null, endpoint: HF_ENDPOINT });
  });
  const opts = () => ({ hubEndpoint: hub, hfToken: GOOD });

  it('sends the token with every request to the Hub (HEAD, ranged and whole GETs)', async () => {
    const src = urlSource(hubModelUrl('gated/model', opts()), opts());
    expect(src.description).toBe(`${hub}/gated/model/resolve/main`);
    expect(await src.exists('config.json')).toBe(true);
    expect(await src.read('model.safetensors', 100, 200)).toEqual(WEIGHTS.slice(100, 200));
    expect(await src.read('config.json')).toEqual(CONFIG);
    expect(log.map((l) => [l.server, l.method, l.authorization])).toEqual([
      ['hub', 'HEAD', `Bearer ${GOOD}`],
      ['hub', 'GET', `Bearer ${GOOD}`],
      ['hub', 'GET', `Bearer ${GOOD}`],
    ]);
  });

  it('never sends it to another host, nor to the CDN a Hub redirect leads to', async () => {
    const elsewhere = urlSource(`${other}/models/x/`, opts());
    expect(await elsewhere.read('config.json')).toEqual(CONFIG);
    expect(await elsewhere.read('model.safetensors', 0, 64)).toEqual(WEIGHTS.slice(0, 64));
    const viaCdn = urlSource(hubModelUrl('cdn/model', opts()), opts());
    expect(await viaCdn.read('model.safetensors', 10, 20)).toEqual(WEIGHTS.slice(10, 20));
    expect(log.filter((l) => l.server === 'other').length).toBeGreaterThan(2);
    for (const l of log) expect(l.authorization, `${l.server} ${l.method} ${l.path}`).toBe(l.server === 'hub' ? `Bearer ${GOOD}` : null);
    expect(log.some((l) => l.server === 'hub' && l.path.startsWith('/cdn/model/'))).toBe(true);
  });

  it('says the model is gated and needs a token when the Hub answers 401 to a request without one', async () => {
    const src = urlSource(hubModelUrl('gated/model', { hubEndpoint: hub }), { hubEndpoint: hub });
    const e = await src.exists('config.json').then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(HubAccessError);
    const err = e as HubAccessError;
    expect([err.kind, err.status, err.repo]).toEqual(['gated', 401, 'gated/model']);
    expect(err.message).toContain(`HEAD ${hub}/gated/model/resolve/main/config.json: HTTP 401 (the Hub says GatedRepo: Access to model gated/model is restricted.)`);
    expect(err.message).toContain('this model is gated: gated/model needs a Hugging Face access token');
    expect(err.message).toContain(`${hub}/settings/tokens`);
    expect(err.message).toContain('--hf-token or HF_TOKEN');
    expect(hubAccessKind(err.message)).toBe('gated');
    expect(log[0].authorization).toBeNull();
  });

  it('says the token was refused for a 401 or a 403 to a request with one', async () => {
    const bad = { hubEndpoint: hub, hfToken: 'hf_expired' };
    const e401 = (await urlSource(hubModelUrl('gated/model', bad), bad).read('config.json').catch((x: unknown) => x)) as HubAccessError;
    expect([e401.kind, e401.status]).toEqual(['token-refused', 401]);
    expect(e401.message).toMatch(/^GET .*config\.json: HTTP 401 \(the Hub says Invalid credentials in Authorization header\): the token was refused for gated\/model: the Hub did not accept it \(invalid, expired or revoked\?\)/);
    const none = { hubEndpoint: hub, hfToken: NO_ACCESS };
    const e403 = (await urlSource(hubModelUrl('gated/model', none), none).exists('config.json').catch((x: unknown) => x)) as HubAccessError;
    expect([e403.kind, e403.status]).toEqual(['token-refused', 403]);
    expect(e403.message).toContain("the token was refused for gated/model: its account may not download gated/model yet: accept the model's terms");
    expect(hubAccessKind(e403.message)).toBe('token-refused');
    for (const l of log) expect(l.authorization).not.toBeNull();
  });

  it('keeps the old message for a 401 or 403 from a host that is not the Hub, also at the end of a Hub redirect', async () => {
    const src = urlSource(`${other}/deny/`, opts());
    await expect(src.exists('config.json')).rejects.toThrow(`HEAD ${other}/deny/config.json: HTTP 403 Forbidden (the model may be gated or private)`);
    await expect(src.exists('config.json')).rejects.not.toBeInstanceOf(HubAccessError);
    const redirected = urlSource(hubModelUrl('cdn/expired', opts()), opts());
    const e = await redirected.read('config.json').catch((x: unknown) => x);
    expect(e).not.toBeInstanceOf(HubAccessError);
    expect((e as Error).message).toBe(`GET ${hub}/cdn/expired/resolve/main/config.json: HTTP 403 Forbidden (the model may be gated or private)`);
  });

  it("uses the realm's default token and endpoint, which a source's own options override", async () => {
    setHubDefaults({ token: ` ${GOOD} `, endpoint: `${hub}/` });
    expect(hubDefaults()).toEqual({ token: GOOD, endpoint: hub });
    expect(await urlSource(hubModelUrl('gated/model')).read('config.json')).toEqual(CONFIG);
    await expect(urlSource(hubModelUrl('gated/model'), { hfToken: null }).read('config.json')).rejects.toThrow('this model is gated');
    expect(log.map((l) => l.authorization)).toEqual([`Bearer ${GOOD}`, null]);
  });

  it('cachedUrlSource downloads with the token, explains a refusal, and serves the stored copy afterwards', async () => {
    await withFakeCaches(async () => {
      const refused = cachedUrlSource(hubModelUrl('gated/model', { hubEndpoint: hub }), { hubEndpoint: hub, hfToken: 'hf_expired' });
      await expect(refused.read('model.safetensors', 0, 8)).rejects.toThrow('the token was refused for gated/model');
      const src = cachedUrlSource(hubModelUrl('gated/model', opts()), opts());
      expect(await src.exists('config.json')).toBe(true);
      expect(await src.read('model.safetensors', 8, 24)).toEqual(WEIGHTS.slice(8, 24));
      const requests = log.length;
      const again = cachedUrlSource(hubModelUrl('gated/model', { hubEndpoint: hub }), { hubEndpoint: hub }); // no token: the copy is stored
      expect(await again.read('model.safetensors', 0, 4)).toEqual(WEIGHTS.slice(0, 4));
      expect(log.length).toBe(requests);
      expect(log.map((l) => l.authorization)).toEqual(['Bearer hf_expired', `Bearer ${GOOD}`, `Bearer ${GOOD}`]);
    });
  });

  it('resolves a Hugging Face id in Node with HF_TOKEN and HF_ENDPOINT, and the CLI with --hf-token first', async () => {
    const env = { ...process.env };
    try {
      process.env.HF_ENDPOINT = hub;
      process.env.HF_TOKEN = 'hf_fromEnvironment';
      expect(nodeHubOptions()).toEqual({ hfToken: 'hf_fromEnvironment', hubEndpoint: hub });
      expect(nodeHubOptions({ hfToken: null }).hfToken).toBeNull();
      const byEnv = resolveModelSource('open/model');
      expect(byEnv.description).toBe(`${hub}/open/model/resolve/main`);
      expect(await byEnv.read('config.json')).toEqual(CONFIG);
      expect(await resolveModelSource('gated/model', 'the model', { hfToken: GOOD }).read('config.json')).toEqual(CONFIG);

      expect(takeHfTokenOption(['train', '--model', 'gated/model', `--hf-token=${GOOD}`, '--out', 'x'])).toEqual(['train', '--model', 'gated/model', '--out', 'x']);
      expect(hfToken()).toBe(GOOD);
      expect(await cliModelSource('gated/model').read('config.json')).toEqual(CONFIG);
      expect(takeHfTokenOption(['--model', 'm', '--hf-token', 'hf_other'])).toEqual(['--model', 'm']);
      expect(hfToken()).toBe('hf_other');
      expect(takeHfTokenOption(['--model', 'm'])).toEqual(['--model', 'm']);
      expect(hfToken()).toBe('hf_fromEnvironment');
      expect(() => takeHfTokenOption(['--hf-token'])).toThrow(UsageError);
      // Each resolved source first looks for config.json (HEAD), then reads it (GET).
      expect(log.map((l) => `${l.method} ${l.authorization}`)).toEqual(
        ['Bearer hf_fromEnvironment', `Bearer ${GOOD}`, `Bearer ${GOOD}`].flatMap((a) => [`HEAD ${a}`, `GET ${a}`]),
      );
    } finally {
      process.env = env;
      takeHfTokenOption([]);
    }
  });
});

describe('hub helpers', () => {
  it('normalize tokens without repeating a malformed one', () => {
    expect(normalizeHubToken('  hf_abc \n')).toBe('hf_abc');
    expect(normalizeHubToken('')).toBeNull();
    expect(normalizeHubToken(undefined)).toBeNull();
    let message = '';
    try {
      normalizeHubToken('hf_sec ret');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/characters a token cannot have/);
    expect(message).not.toContain('sec');
  });

  it('find the repository of Hub URLs only', () => {
    expect(hubModelUrl('google/gemma-3-270m-it')).toBe('https://huggingface.co/google/gemma-3-270m-it/resolve/main/');
    expect(hubRepoOf('https://huggingface.co/google/gemma-3-270m-it/resolve/main/config.json')).toBe('google/gemma-3-270m-it');
    expect(hubRepoOf('https://huggingface.co.evil.example/google/x/resolve/main/a')).toBeNull();
    expect(hubRepoOf('http://huggingface.co/google/x/resolve/main/a')).toBeNull(); // another origin: not https
    expect(hubRepoOf('https://cdn-lfs.huggingface.co/repos/ab/cd')).toBeNull();
    const mirror = { hubEndpoint: 'https://mirror.example/hf/' };
    expect(hubModelUrl('a/b', mirror)).toBe('https://mirror.example/hf/a/b/resolve/main/');
    expect(hubRepoOf('https://mirror.example/hf/a/b/resolve/main/config.json', mirror)).toBe('a/b');
  });
});
