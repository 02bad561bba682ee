// Nothing lost in the browser: the demo keeps a checkpoint of its training run every N steps in
// the origin-private file system, and after a reload, a closed tab or a lost GPU device (destroyed in the
// middle of the run, from inside the engine's worker) it offers to resume once the model is
// loaded again; the resumed run's exported adapter is byte for byte the uninterrupted run's. A
// full storage quota (every OPFS write refused) is said under the Train button, and training
// still finishes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { unzipFiles } from '../../src/io/zip.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { collectErrors, demoSuite } from './browser.js';
import { fillSettings, PAIRS_JSONL } from './demo-steps.js';

async function loadStories(page: Page): Promise<void> {
  await page.getByTestId('model-source').fill('/models/stories260K/');
  await page.getByTestId('load-model').click();
  await page.locator('[data-testid="model-status"][data-state="ready"]').waitFor({ timeout: 60_000 });
}

/** A fresh page of the demo with stories260K loaded, the pairs pasted, 10 steps set up and a checkpoint every 2. */
async function readyPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(demo.server.url);
  await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
  await loadStories(page);
  await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
  await fillSettings(page, 10);
  await page.getByTestId('checkpoint-every').fill('2');
  return page;
}

const done = (page: Page) => page.locator('[data-testid="train-status"][data-state="done"]').waitFor({ timeout: 300_000 });
const note = (page: Page) => page.getByTestId('checkpoint-note');

async function exportedAdapter(page: Page): Promise<Buffer> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  const files = await unzipFiles(new Uint8Array(readFileSync(await download.path())));
  return Buffer.from(files['adapter_model.safetensors']);
}

/** Resumes the kept run (the model loaded again first) and returns its exported adapter. */
async function resumeKept(page: Page, stoppedAt: RegExp): Promise<Buffer> {
  const saved = page.getByTestId('saved-run');
  await saved.waitFor({ state: 'visible', timeout: 30_000 });
  expect(await saved.textContent()).toMatch(stoppedAt);
  expect(await saved.textContent()).toMatch(/Load \S+stories260K to resume it/);
  expect(await page.getByTestId('resume-run').isDisabled()).toBe(true);
  await loadStories(page);
  expect(await page.getByTestId('resume-run').isDisabled()).toBe(false);
  await page.getByTestId('resume-run').click();
  await done(page);
  expect(await page.getByTestId('train-status').textContent()).toMatch(/10\/10 steps/);
  expect(await saved.isHidden(), 'a finished run is no longer offered').toBe(true);
  return exportedAdapter(page);
}

let demo: ReturnType<typeof demoSuite>;

describe.skipIf(!SHARED_DIR)(`demo runs kept in the browser${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  demo = demoSuite({ stories260K: join(SHARED_DIR ?? '', 'models', 'stories260K') });

  it('resumes after a reload, a closed tab and a lost GPU device to the uninterrupted adapter', async () => {
    const context = await demo.browser.newContext();
    const errors = collectErrors(context);

    // The uninterrupted run.
    let page = await readyPage(context);
    await page.getByTestId('train').click();
    await done(page);
    expect(await note(page).textContent()).toMatch(/^Checkpoint after step 8 kept in this browser/);
    const whole = await exportedAdapter(page);
    await page.close();

    // Reloaded after its second checkpoint.
    page = await readyPage(context);
    await page.getByTestId('train').click();
    await expect.poll(() => note(page).textContent(), { timeout: 120_000 }).toMatch(/^Checkpoint after step 4 kept/);
    await page.reload();
    expect((await resumeKept(page, /stopped after step (4|6|8) of 10/)).equals(whole), 'resumed after a reload').toBe(true);
    await page.close();

    // The tab closed after its third checkpoint, the page opened again.
    page = await readyPage(context);
    await page.getByTestId('train').click();
    await expect.poll(() => note(page).textContent(), { timeout: 120_000 }).toMatch(/^Checkpoint after step 6 kept/);
    await page.close();
    page = await context.newPage();
    await page.goto(demo.server.url);
    expect((await resumeKept(page, /stopped after step (6|8) of 10/)).equals(whole), 'resumed after the tab was closed').toBe(true);
    await page.close();

    // The GPU device destroyed inside the engine's worker after the first checkpoint.
    page = await readyPage(context);
    const worker = page.workers()[0];
    await worker.evaluate(() => {
      const proto = GPUDevice.prototype as GPUDevice & { createCommandEncoder: GPUDevice['createCommandEncoder'] };
      const create = proto.createCommandEncoder;
      proto.createCommandEncoder = function (this: GPUDevice, ...args) {
        (self as unknown as { usedDevice: GPUDevice }).usedDevice = this;
        return create.apply(this, args);
      };
    });
    await page.getByTestId('train').click();
    await expect.poll(() => note(page).textContent(), { timeout: 120_000 }).toMatch(/^Checkpoint after step 2 kept/);
    await worker.evaluate(() => (self as unknown as { usedDevice: GPUDevice }).usedDevice.destroy());
    await page.locator('[data-testid="train-status"][data-state="error"]').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('train-status').textContent()).toMatch(/^Training failed: the GPU device was lost while training \(destroyed/);
    expect(await page.getByTestId('model-status').textContent()).toMatch(/^The GPU device was lost, and the model with it: load it again/);
    expect((await resumeKept(page, /stopped after step (2|4|6|8) of 10/)).equals(whole), 'resumed after a lost device').toBe(true);

    expect(errors.filter((e) => !/device was (lost|destroyed)|Device is lost|Destroyed/i.test(e))).toEqual([]);
    await context.close();
  }, 900_000);

  it('says when the storage quota stops a checkpoint, and trains on', async () => {
    const context = await demo.browser.newContext();
    await context.addInitScript(() => {
      // A checkpoint's weights do not fit; the small run.json still does.
      const write = FileSystemWritableFileStream.prototype.write;
      FileSystemWritableFileStream.prototype.write = function (this: FileSystemWritableFileStream, data) {
        const size = (data as { byteLength?: number }).byteLength ?? 0;
        return size > 4096 ? Promise.reject(new DOMException('the quota is exhausted', 'QuotaExceededError')) : write.call(this, data);
      };
    });
    const page = await readyPage(context);
    await page.getByTestId('train').click();
    await done(page);
    expect(await note(page).getAttribute('data-state')).toBe('error');
    expect(await note(page).textContent()).toMatch(/^Checkpoint not kept: the browser's storage is full: the checkpoint after step 8 \(\d+\.\d MB\) was not saved; [\d.]+ MB of this site's [\d.]+ MB are in use\.$/);
    await context.close();
  }, 300_000);
});

describe.skipIf(!SHARED_DIR)(`widget runs kept in the browser${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ stories260K: join(SHARED_DIR ?? '', 'models', 'stories260K') });

  /** The example page with checkpoint-every 2, logging the element's checkpoint and resumable events and its last export. */
  async function examplePage(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    await page.addInitScript(() => {
      const w = window as unknown as { events: string[]; adapter: number[] | null };
      w.events = [];
      w.adapter = null;
      for (const type of ['checkpoint', 'resumable']) document.addEventListener(type, (e) => w.events.push(`${type} ${JSON.stringify((e as CustomEvent).detail)}`));
      document.addEventListener('exported', (e) => (w.adapter = Array.from((e as CustomEvent).detail.files['adapter_model.safetensors'] as Uint8Array)));
    });
    await page.goto(`${suite.server.url}widget/example.html`);
    await page.locator('lora-trainer').evaluate((el) => el.setAttribute('checkpoint-every', '2'));
    return page;
  }
  const events = (page: Page) => page.evaluate(() => (window as unknown as { events: string[] }).events);
  const trainAndExport = async (page: Page): Promise<Buffer> => {
    await page.locator('lora-trainer [data-testid="train"]').click();
    await expect.poll(() => page.locator('#log').textContent(), { timeout: 300_000 }).toMatch(/^trained 8 steps/m);
    await page.locator('lora-trainer [data-testid="export"]').click();
    await expect.poll(() => page.evaluate(() => (window as unknown as { adapter: number[] | null }).adapter !== null), { timeout: 30_000 }).toBe(true);
    return Buffer.from(await page.evaluate(() => (window as unknown as { adapter: number[] }).adapter));
  };

  it('resumes a reloaded run to the uninterrupted adapter', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    let page = await examplePage(context);
    const whole = await trainAndExport(page);
    expect(await events(page)).toEqual(['checkpoint {"step":2,"kept":true}', 'checkpoint {"step":4,"kept":true}', 'checkpoint {"step":6,"kept":true}']);
    await page.close();

    page = await examplePage(context);
    await page.locator('lora-trainer [data-testid="train"]').click();
    await expect.poll(() => events(page), { timeout: 120_000 }).toContain('checkpoint {"step":4,"kept":true}');
    await page.reload();
    await page.locator('lora-trainer').evaluate((el) => el.setAttribute('checkpoint-every', '2'));
    await expect.poll(() => events(page), { timeout: 30_000 }).toContainEqual(expect.stringMatching(/^resumable \{"step":(4|6),"totalSteps":8\}$/));
    expect(await page.locator('lora-trainer [data-testid="train"]').textContent()).toBe('Resume');
    expect(await page.locator('lora-trainer [data-testid="status"]').textContent()).toMatch(/^a run stopped after step (4|6) of 8: Resume continues it$/);
    expect((await trainAndExport(page)).equals(whole), 'the resumed adapter').toBe(true);
    expect(await page.locator('lora-trainer [data-testid="train"]').textContent()).toBe('Train');
    expect(errors).toEqual([]);
    await context.close();
  }, 600_000);
});
