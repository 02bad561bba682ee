// The engine's GGUF export (Engine.exportGguf) in Node, where there is no origin-private file
// system and the file is gathered in memory (src/engine/export-file.ts): its bytes are exactly
// those exportGguf writes for the engine's current adapter (here PEFT's golden stories260K
// adapter, imported), the merged model comes with its Modelfile, progress counts every tensor,
// and bad requests or a missing adapter fail with messages that say so. The memory sink itself:
// chunks across its 16 MiB gathering point, copied at write time, joined in order.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { openExportFile } from '../../src/engine/export-file.js';
import type { GgufExportProgress, GgufExportRequest } from '../../src/engine/types.js';
import { collectBytes, exportGguf } from '../../src/export/gguf/export.js';
import { importPeft } from '../../src/lora/peft.js';
import { loadModelSpec } from '../../src/model/config.js';
import { folderSource, resolveModelSource } from '../../src/model/source-node.js';
import { readGguf } from '../export/gguf-reader.js';
import { parseModelfile } from '../export/modelfile-parser.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const bytesOf = async (f: File) => new Uint8Array(await f.arrayBuffer());

describe('export files in memory (no origin-private file system)', () => {
  it('gathers the written chunks, copied when written, into a named File in order', async () => {
    const out = await openExportFile('x.gguf');
    expect(out.storage).toBe('memory');
    expect(out.note).toMatch(/no origin-private file system .*: the file is gathered in memory before the download$/);
    // 10 MiB, 10 MiB (past the 16 MiB gathering point), then 3 bytes; each buffer is overwritten
    // after its write, as a writer reusing its buffer would.
    const sizes = [10 * 2 ** 20, 10 * 2 ** 20, 3];
    const want = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const [k, n] of sizes.entries()) {
      const chunk = new Uint8Array(n).map((_, i) => (i * 7 + k * 31) & 255);
      want.set(chunk, at);
      at += n;
      await out.write(chunk);
      chunk.fill(0);
    }
    const file = await out.finish();
    expect(file.name).toBe('x.gguf');
    expect(file.size).toBe(want.length);
    expect(Buffer.compare(await bytesOf(file), want)).toBe(0);
  });
});

describe.skipIf(!SHARED_DIR)(`Engine.exportGguf on stories260K${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const stories = join(SHARED_DIR ?? '', 'models', 'stories260K');
  const golden = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');
  let engine: Engine;

  beforeAll(async () => {
    engine = new Engine({ ctx: await gpu(), resolvePath: (p) => resolveModelSource(p) });
    await engine.loadModel(stories);
  });
  afterAll(() => engine?.dispose());

  it('fails without an adapter, and for a kind or type it does not write', async () => {
    await expect(engine.exportGguf({ kind: 'adapter' })).rejects.toThrow(/there is no adapter yet: train one or import one/);
    await expect(engine.exportGguf({ kind: 'model' } as unknown as GgufExportRequest)).rejects.toThrow(/kind must be 'adapter' or 'merged', not 'model'/);
    await expect(engine.exportGguf({ kind: 'adapter', type: 'q4_0' } as unknown as GgufExportRequest)).rejects.toThrow(/type must be f32, f16, q8_0, not 'q4_0'/);
  });

  it('writes the current adapter as a GGUF LoRA (f16 by default) and the merged model with its Modelfile', async () => {
    const source = folderSource(stories);
    const { spec } = await loadModelSpec(source);
    const adapter = await importPeft(folderSource(golden), spec);
    await engine.importAdapter(adapter);

    const progress: GgufExportProgress[] = [];
    const lora = await engine.exportGguf({ kind: 'adapter' }, (p) => progress.push(p));
    expect(lora).toMatchObject({ kind: 'adapter', type: 'f16', storage: 'memory', tensors: 2 * adapter.modules.length });
    expect(lora.storageNote).toMatch(/gathered in memory/);
    expect(lora.modelfile).toBeUndefined();
    expect(lora.file.name).toBe('adapter-f16.gguf');
    const want = collectBytes();
    await exportGguf(want, source, { adapter, type: 'f16', spec });
    const got = await bytesOf(lora.file);
    expect(got.length).toBe(lora.bytes);
    expect(Buffer.compare(got, want.bytes()), 'the engine\'s file vs exportGguf of the same adapter').toBe(0);
    expect(progress.map((p) => p.done)).toEqual(Array.from({ length: lora.tensors }, (_, i) => i + 1));
    expect(progress.every((p) => p.total === lora.tensors)).toBe(true);

    const merged = await engine.exportGguf({ kind: 'merged', type: 'q8_0' });
    expect(merged).toMatchObject({ kind: 'merged', type: 'q8_0', storage: 'memory' });
    expect(merged.file.name).toBe('merged-model-q8_0.gguf');
    const file = readGguf(await bytesOf(merged.file));
    expect(file.kvs.get('general.type')?.value).toBe('model');
    expect(file.tensors.length).toBe(merged.tensors);
    expect(merged.modelfile?.name).toBe('merged-model-q8_0.Modelfile');
    expect(parseModelfile(merged.modelfile!.text).from).toBe('./merged-model-q8_0.gguf');
  });
});
