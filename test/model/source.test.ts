import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelSpec } from '../../src/model/config.js';
import { readSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { directoryHandleSource, fileListSource, memorySource, urlSource } from '../../src/model/source.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

if (!SHARED_DIR) console.warn(`skipping the HTTP tests of source.test.ts: ${NO_SHARED_REASON}`);

/**
 * Serves ../shared/models/<name>/<file> at /models/<name>/<file>. Switches per path prefix:
 * /norange/ ignores Range headers (always 200, whole file), /nolength/ sends no Content-Length on
 * HEAD, /fail/ answers 500. Requests are logged.
 */
function modelServer(): { server: Server; log: string[] } {
  const log: string[] = [];
  const server = createServer((req, res) => {
    const range = req.headers.range;
    log.push(`${req.method} ${req.url}${range ? ` ${range}` : ''}`);
    let path = req.url ?? '/';
    const flags = new Set<string>();
    for (const flag of ['norange', 'nolength', 'fail']) {
      if (path.startsWith(`/${flag}/`)) {
        flags.add(flag);
        path = path.slice(flag.length + 1);
      }
    }
    if (flags.has('fail')) return void res.writeHead(500).end('boom');
    const m = /^\/models\/([\w.-]+)\/([\w.-]+)$/.exec(path);
    const file = m && join(SHARED_DIR ?? '', 'models', m[1], m[2]);
    let size: number;
    try {
      size = statSync(file!).size;
    } catch {
      return void res.writeHead(404).end('not found');
    }
    if (req.method === 'HEAD') {
      return void res.writeHead(200, flags.has('nolength') ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': size }).end();
    }
    const bytes = readFileSync(file!);
    const r = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
    if (r && !flags.has('norange')) {
      const [start, end] = [Number(r[1]), Math.min(Number(r[2]), size - 1)];
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
      return void res.end(bytes.subarray(start, end + 1));
    }
    res.writeHead(200, { 'Content-Length': size });
    res.end(bytes);
  });
  return { server, log };
}

describe.skipIf(!SHARED_DIR)('urlSource against a local HTTP server', () => {
  const { server, log } = modelServer();
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const local = () => folderSource(join(SHARED_DIR ?? '', 'models', 'stories260K'));
  const name = 'model.layers.4.self_attn.o_proj.weight';

  it('reads the header and a tensor with Range requests, the same bytes as folderSource', async () => {
    const progress: [string, number, number][] = [];
    const src = urlSource(`${base}/models/stories260K`, { onProgress: (f, loaded, total) => progress.push([f, loaded, total]) });
    expect(src.description).toBe(`${base}/models/stories260K`);
    const [h, want] = [await readSafetensorsHeader(src, 'model.safetensors'), await readSafetensorsHeader(local(), 'model.safetensors')];
    expect(h.dataStart).toBe(want.dataStart);
    expect(h.tensors).toEqual(want.tensors);
    log.length = 0;
    expect(await readTensorF32(src, h, name)).toEqual(await readTensorF32(local(), want, name));
    const info = h.tensors.get(name)!;
    expect(log).toEqual([`GET /models/stories260K/model.safetensors bytes=${h.dataStart + info.begin}-${h.dataStart + info.end - 1}`]);
    expect(progress.at(-1)).toEqual(['model.safetensors', 16384, 16384]);
    expect(await src.read('config.json')).toEqual(await local().read('config.json'));
  });

  it('says exists false for a 404 and names the URL and status on errors', async () => {
    const src = urlSource(`${base}/models/stories260K/`);
    expect(await src.exists('config.json')).toBe(true);
    expect(await src.exists('missing.json')).toBe(false);
    await expect(src.read('missing.json', 0, 10)).rejects.toThrow(`${base}/models/stories260K/missing.json: HTTP 404`);
    await expect(urlSource(`${base}/fail/models/stories260K`).exists('config.json')).rejects.toThrow(
      `HEAD ${base}/fail/models/stories260K/config.json: HTTP 500`,
    );
    await expect(urlSource('http://127.0.0.1:1/x').exists('a')).rejects.toThrow('HEAD http://127.0.0.1:1/x/a failed');
  });

  it('slices a 200 response from a server without Range support', async () => {
    const src = urlSource(`${base}/norange/models/stories260K`);
    const h = await readSafetensorsHeader(src, 'model.safetensors');
    expect(await readTensorF32(src, h, name)).toEqual(await readTensorF32(local(), h, name));
  });

  it('finds the size from a Range probe when HEAD has no Content-Length', async () => {
    const src = urlSource(`${base}/nolength/models/stories260K`);
    log.length = 0;
    expect(await src.size('model.safetensors')).toBe(1044992);
    expect(log).toContain('GET /nolength/models/stories260K/model.safetensors bytes=0-0');
  });

  it('loads the spec through the given fetch', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const { spec } = await loadModelSpec(urlSource(`${base}/models/stories260K`, { fetch: counting }));
    expect(spec.V).toBe(512);
    expect(calls).toBeGreaterThan(0);
  });
});

/** A File as a webkitdirectory <input> gives it: Node's File lacks webkitRelativePath, so add it. */
function pickedFile(path: string, content: BlobPart): File {
  const f = new File([content], path.split('/').at(-1)!);
  Object.defineProperty(f, 'webkitRelativePath', { value: path });
  return f;
}

describe('fileListSource and directoryHandleSource', () => {
  it('reads files picked as a folder, by path below it, with ranges', async () => {
    const src = fileListSource([
      pickedFile('my-model/config.json', '{"a": 1}'),
      pickedFile('my-model/model.safetensors', new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])),
      pickedFile('my-model/sub/config.json', '{"nested": true}'),
    ]);
    expect(src.description).toBe('my-model');
    expect(await src.exists('config.json')).toBe(true);
    expect(await src.exists('tokenizer.json')).toBe(false);
    expect(new TextDecoder().decode(await src.read('config.json'))).toBe('{"a": 1}');
    expect(new TextDecoder().decode(await src.read('sub/config.json'))).toBe('{"nested": true}');
    expect(await src.size('model.safetensors')).toBe(10);
    expect(Array.from(await src.read('model.safetensors', 3, 7))).toEqual([3, 4, 5, 6]);
    expect(Array.from(await src.read('model.safetensors', 8))).toEqual([8, 9]);
    await expect(src.read('nope.json')).rejects.toThrow('my-model/nope.json is not among the selected files');
  });

  it('finds files in a picked parent folder, and plain files by name', async () => {
    const parent = fileListSource([pickedFile('models/tiny/config.json', '{}')]);
    expect(await parent.exists('config.json')).toBe(true);
    const plain = fileListSource([new File(['xyz'], 'config.json')]);
    expect(plain.description).toBe('selected files');
    expect(Array.from(await plain.read('config.json', 1, 2))).toEqual([0x79]);
  });

  it.skipIf(!SHARED_DIR)('reads a real model folder picked as files', async () => {
    const dir = join(SHARED_DIR ?? '', 'models', 'tiny-random-qwen3');
    const src = fileListSource(['config.json', 'model.safetensors'].map((f) => pickedFile(`tiny-random-qwen3/${f}`, new Uint8Array(readFileSync(join(dir, f))))));
    const h = await readSafetensorsHeader(src, 'model.safetensors');
    const want = await readSafetensorsHeader(folderSource(dir), 'model.safetensors');
    expect(await readTensorF32(src, h, 'model.norm.weight')).toEqual(await readTensorF32(folderSource(dir), want, 'model.norm.weight'));
    expect((await loadModelSpec(src)).spec.HS).toBe(16);
  });

  it('walks a directory handle (a minimal stand-in for the File System Access API)', async () => {
    const notFound = () => Object.assign(new Error('not found'), { name: 'NotFoundError' });
    const dir = (name: string, entries: Record<string, File | object>): FileSystemDirectoryHandle =>
      ({
        name,
        getDirectoryHandle: async (n: string) => (entries[n] && !(entries[n] instanceof File) ? entries[n] : Promise.reject(notFound())),
        getFileHandle: async (n: string) => (entries[n] instanceof File ? { getFile: async () => entries[n] } : Promise.reject(notFound())),
      }) as unknown as FileSystemDirectoryHandle;
    const src = directoryHandleSource(dir('root', { 'config.json': new File(['{"x":2}'], 'config.json'), sub: dir('sub', { 'a.bin': new File([new Uint8Array([9, 8, 7])], 'a.bin') }) }));
    expect(await src.exists('config.json')).toBe(true);
    expect(await src.exists('missing.json')).toBe(false);
    expect(await src.exists('sub/missing.bin')).toBe(false);
    expect(Array.from(await src.read('sub/a.bin', 1))).toEqual([8, 7]);
    expect(await src.size('sub/a.bin')).toBe(3);
    await expect(src.size('nope')).rejects.toThrow('root/nope does not exist');
  });

  it('memorySource', async () => {
    const src = memorySource({ a: new Uint8Array([1, 2, 3]) }, 'm');
    expect([await src.exists('a'), await src.exists('b'), await src.size('a')]).toEqual([true, false, 3]);
    expect(Array.from(await src.read('a', 1))).toEqual([2, 3]);
    await expect(src.read('b')).rejects.toThrow('m/b does not exist');
  });
});
