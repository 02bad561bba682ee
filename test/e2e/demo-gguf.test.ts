// The demo's GGUF exports in headless Chromium: stories260K loaded from a local URL and trained
// for two steps, then "GGUF adapter" and "GGUF merged model" clicked (f16, the default type).
// The worker writes each file to the origin-private file system and the page downloads it from
// there (the status line says so); the downloads are checked in Node: their GGUF headers
// (general.type, tensor count, tensor types), the Modelfile beside the merged model, and, the real
// proof, a real llama.cpp (node-llama-cpp, CPU): the downloaded merged model and the base model
// (exported here from the fixture) with the downloaded GGUF LoRA generate the same greedy tokens
// after a trained prompt, and different ones from the base model alone. Along the way: the
// status line shows each tensor written, each export's folder in the origin-private file system
// holds exactly the downloaded file, and a stale folder is removed. A second test sets the site's
// storage quota (over CDP) too low for the merged model: the status line gives the quota error,
// no file is left behind and nothing is downloaded, and with the quota back an export succeeds.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Download, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPORTS_FOLDER } from '../../src/engine/export-file.js';
import { exportGguf } from '../../src/export/gguf/export.js';
import { writeFileAtomicStream } from '../../src/io/atomic-node.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { formatPrompt } from '../../src/train/format.js';
import { readGguf } from '../export/gguf-reader.js';
import { llamaCppGreedy, NO_LLAMA_CPP_REASON } from '../export/llama-cpp.js';
import { parseModelfile } from '../export/modelfile-parser.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { collectErrors, demoSuite } from './browser.js';
import { fillSettings, PAIRS, PAIRS_JSONL } from './demo-steps.js';

const N = 20;
const F32 = 0;
const F16 = 1;
/** stories260K: 5 layers; the demo's 'attention' targets are q, k, v and o. */
const ADAPTER_TENSORS = 5 * 4 * 2;

/** Clicks `testId` and waits for a download of each file name ending given. */
async function downloadsOf(page: Page, testId: string, endings: string[]): Promise<Download[]> {
  const waits = endings.map((end) => page.waitForEvent('download', { predicate: (d) => d.suggestedFilename().endsWith(end), timeout: 60_000 }));
  await page.getByTestId(testId).click();
  return Promise.all(waits);
}

/** Loads stories260K from the test server and trains it on the pasted pairs for `epochs` steps (two examples, batch 2). */
async function loadAndTrain(page: Page, url: string, epochs: number): Promise<void> {
  await page.goto(url);
  await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
  await page.getByTestId('model-source').fill('/models/stories260K/');
  await page.getByTestId('load-model').click();
  await page.locator('[data-testid="train-status"][data-state="ready"]').waitFor({ timeout: 60_000 });
  await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
  await fillSettings(page, epochs);
  // A learning rate high enough that two steps change the greedy continuation of a trained input.
  await page.getByTestId('learning-rate').fill('5e-2');
  await page.getByTestId('train').click();
  const train = page.getByTestId('train-status');
  await expect.poll(() => train.getAttribute('data-state'), { timeout: 120_000 }).toMatch(/^(done|error)$/);
  expect(await train.getAttribute('data-state'), (await train.textContent()) ?? '').toBe('done');
}

/** The export status line once the export has ended, which must have succeeded (or failed, with `expected` 'error'). */
async function exportEnded(page: Page, expected: 'done' | 'error' = 'done'): Promise<string> {
  const status = page.locator('#export-status');
  await expect.poll(() => status.getAttribute('data-state'), { timeout: 60_000 }).toMatch(/^(done|error)$/);
  const text = (await status.textContent()) ?? '';
  expect(await status.getAttribute('data-state'), text).toBe(expected);
  return text;
}

/** The demo's export folders in the origin-private file system: folder name → [file name, size] of each file. */
function opfsExports(page: Page): Promise<Record<string, Array<[string, number]>>> {
  return page.evaluate(async (folder) => {
    type Dir = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
    const root = (await navigator.storage.getDirectory()) as Dir;
    const exports = (await root.getDirectoryHandle(folder, { create: true })) as Dir;
    const out: Record<string, Array<[string, number]>> = {};
    for await (const [name, handle] of exports.entries()) {
      out[name] = [];
      if (handle.kind !== 'directory') continue;
      for await (const [file, h] of (handle as Dir).entries()) out[name].push([file, h.kind === 'file' ? (await (h as FileSystemFileHandle).getFile()).size : -1]);
    }
    return out;
  }, EXPORTS_FOLDER);
}

describe.skipIf(!SHARED_DIR || NO_LLAMA_CPP_REASON)(`demo GGUF exports in Chromium and llama.cpp${SHARED_DIR ? (NO_LLAMA_CPP_REASON ? ` (skipped: ${NO_LLAMA_CPP_REASON})` : '') : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const stories = join(SHARED_DIR ?? '', 'models', 'stories260K');
  const suite = demoSuite({ stories260K: stories });
  const dir = mkdtempSync(join(tmpdir(), 'demo-gguf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exports the trained adapter and the merged model as GGUF files that llama.cpp runs alike', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    await loadAndTrain(page, suite.server.url, 2);
    const finished = () => exportEnded(page);
    // An export folder left by a tab that closed long ago: the next export removes it.
    await page.evaluate(async (folder) => {
      const exports = await (await navigator.storage.getDirectory()).getDirectoryHandle(folder, { create: true });
      await (await exports.getDirectoryHandle('1000-1', { create: true })).getFileHandle('stale.gguf', { create: true });
    }, EXPORTS_FOLDER);
    expect(Object.keys(await opfsExports(page))).toContain('1000-1');
    expect(await page.getByTestId('gguf-type').inputValue()).toBe('f16');
    expect(await page.getByTestId('gguf-hint').textContent()).toMatch(/Written to the browser's private storage as it is made/);

    // The GGUF LoRA adapter.
    const [adapterDownload] = await downloadsOf(page, 'gguf-adapter', ['.gguf']);
    expect(adapterDownload.suggestedFilename()).toBe('adapter-f16.gguf');
    const adapterText = await finished();
    expect(adapterText).toMatch(new RegExp(`^adapter-f16\\.gguf \\([\\d.]+ MiB, ${ADAPTER_TENSORS} tensors; written to disk in the browser's private storage as it was made\\)\\. Use it with llama\\.cpp`));
    const adapterPath = join(dir, 'adapter-f16.gguf');
    await adapterDownload.saveAs(adapterPath);
    const adapter = readGguf(new Uint8Array(readFileSync(adapterPath)));
    expect(adapter.kvs.get('general.type')?.value).toBe('adapter');
    expect(adapter.kvs.get('adapter.type')?.value).toBe('lora');
    expect(adapter.tensors.length).toBe(ADAPTER_TENSORS);
    expect(adapter.tensors.every((t) => /^blk\.\d\.attn_(q|k|v|output)\.weight\.lora_[ab]$/.test(t.name)), adapter.tensors.map((t) => t.name).join(' ')).toBe(true);
    expect(new Set(adapter.tensors.map((t) => t.type))).toEqual(new Set([F16]));
    // The worker wrote it to a folder of its own in the origin-private file system (the download
    // came from there), and removed the stale folder.
    const afterAdapter = await opfsExports(page);
    expect(Object.values(afterAdapter), JSON.stringify(afterAdapter)).toEqual([[['adapter-f16.gguf', readFileSync(adapterPath).length]]]);

    // The merged model, with its Modelfile as a second download; every text the status line shows meanwhile is recorded.
    await page.evaluate(() => {
      const w = window as unknown as { statusTexts: string[] };
      w.statusTexts = [];
      const el = document.getElementById('export-status')!;
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) w.statusTexts.push(n.textContent ?? '');
      }).observe(el, { childList: true });
    });
    const [mergedDownload, modelfileDownload] = await downloadsOf(page, 'gguf-merged', ['.gguf', '.Modelfile']);
    expect(mergedDownload.suggestedFilename()).toBe('merged-model-f16.gguf');
    expect(modelfileDownload.suggestedFilename()).toBe('merged-model-f16.Modelfile');
    const mergedText = await finished();
    expect(mergedText).toMatch(/^merged-model-f16\.gguf \([\d.]+ MiB, \d+ tensors; written to disk in the browser's private storage as it was made\) and merged-model-f16\.Modelfile: ollama create/);
    const mergedPath = join(dir, 'merged-model-f16.gguf');
    await mergedDownload.saveAs(mergedPath);
    const merged = readGguf(new Uint8Array(readFileSync(mergedPath)));
    expect(merged.kvs.get('general.type')?.value).toBe('model');
    expect(merged.kvs.get('general.architecture')?.value).toBe('llama');
    // Matrices f16, norms f32; the tensor count is the one the status line gave.
    expect(new Set(merged.tensors.map((t) => t.type))).toEqual(new Set([F16, F32]));
    expect(merged.tensors.filter((t) => t.type === F32).every((t) => t.dims.length === 1)).toBe(true);
    expect(mergedText).toContain(`${merged.tensors.length} tensors`);
    // Progress: one line per tensor written, in order, each naming the tensor.
    const shown = await page.evaluate(() => (window as unknown as { statusTexts: string[] }).statusTexts);
    const progress = shown.map((t) => /^Writing the GGUF merged model: tensor (\d+) of (\d+) \((.+)\)…$/.exec(t)).filter((m) => m !== null);
    expect(progress.map((m) => Number(m[1])), shown.join('\n')).toEqual(merged.tensors.map((_, i) => i + 1));
    expect(progress.every((m) => Number(m[2]) === merged.tensors.length)).toBe(true);
    expect(progress.map((m) => m[3])).toEqual(merged.tensors.map((t) => t.name));
    // The adapter's file is kept beside it (for less than a minute, its download may still be reading it).
    const afterMerged = Object.values(await opfsExports(page)).flat().sort();
    expect(afterMerged).toEqual([['adapter-f16.gguf', readFileSync(adapterPath).length], ['merged-model-f16.gguf', readFileSync(mergedPath).length]]);
    const modelfile = parseModelfile(readFileSync(await modelfileDownload.path(), 'utf8'));
    expect(modelfile.from).toBe('./merged-model-f16.gguf');
    expect(modelfile.adapter).toBeNull();
    // stories260K has no chat template: the demo trains in its plain template, which TEMPLATE is.
    expect(modelfile.template).toContain('### Input:');

    // llama.cpp: merged = base + LoRA ≠ base, greedily after a trained input as the demo formats it.
    const source = folderSource(stories);
    const basePath = join(dir, 'base-f32.gguf');
    await writeFileAtomicStream(basePath, (sink) => exportGguf(sink, source, { type: 'f32' }));
    const promptIds = formatPrompt(PAIRS[0][0], await TextTokenizer.load(source));
    const fromMerged = await llamaCppGreedy(mergedPath, promptIds, N);
    const fromLora = await llamaCppGreedy(basePath, promptIds, N, adapterPath);
    const fromBase = await llamaCppGreedy(basePath, promptIds, N);
    expect(fromMerged).toHaveLength(N);
    expect(fromLora, 'base + downloaded GGUF LoRA vs the downloaded merged model').toEqual(fromMerged);
    expect(fromMerged, 'the trained model vs the base model').not.toEqual(fromBase);
    const changed = fromMerged.filter((t, i) => t !== fromBase[i]).length;
    console.log(`demo GGUF: llama.cpp, merged = base + LoRA for ${N} tokens, ${changed} of them differ from the base model's`);

    expect(errors).toEqual([]);
    await context.close();
  });

  it('shows a full storage quota as the export\'s error, leaves no file behind, and exports once there is room', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    await loadAndTrain(page, suite.server.url, 1);
    const before = Object.keys(await opfsExports(page));
    // The site's storage quota set to 64 KiB more than it uses (the cached model): the file is
    // created, and a write of the merged model (about 1 MiB in f16) fails.
    const cdp = await context.newCDPSession(page);
    const origin = new URL(suite.server.url).origin;
    const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + 65_536 });
    let downloads = 0;
    page.on('download', () => downloads++);
    await page.getByTestId('gguf-merged').click();
    const text = await exportEnded(page, 'error');
    expect(text).toMatch(/^Writing the GGUF merged model failed: the browser's storage did not take a write of \d+ bytes after \d+ bytes of the file, so the disk or this site's storage quota is full; the site uses \d+ of its \d+ bytes of storage: free disk space or site storage, or export a smaller type \(q8_0\)$/);
    expect(Object.keys(await opfsExports(page)), 'the failed export\'s folder is removed').toEqual(before);
    expect(await page.getByTestId('gguf-merged').isEnabled()).toBe(true);
    expect(downloads).toBe(0);

    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    const [download] = await downloadsOf(page, 'gguf-adapter', ['.gguf']);
    await exportEnded(page);
    expect(download.suggestedFilename()).toBe('adapter-f16.gguf');
    expect(errors).toEqual([]);
    await context.close();
  });
});
