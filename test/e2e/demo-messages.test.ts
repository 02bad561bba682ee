// The demo's messages when something is wrong, in headless Chromium (each was reported garbled or
// misleading): text that is no model address, an address with no model folder behind it, a model
// whose weights fail to load after the download began (the progress bar must not stay full), a
// dataset with problems beside a loaded model (no "Ready to train on 0 examples"), and a browser
// without WebGPU (the advice once, whole sentences, the flags unbroken).
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { BROWSER_HELP } from '../../src/gpu/device.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { collectErrors, demoSuite } from './browser.js';

/** stories260K with its weights cut to half: the download starts, the load fails. */
function brokenStories(): string {
  const from = join(SHARED_DIR!, 'models', 'stories260K');
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-broken-'));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(from, f), join(dir, f));
  const weights = readFileSync(join(from, 'model.safetensors'));
  writeFileSync(join(dir, 'model.safetensors'), weights.subarray(0, weights.length >> 1));
  return dir;
}

async function loadModel(page: Page, text: string): Promise<{ state: string | null; message: string }> {
  await page.getByTestId('model-source').fill(text);
  await page.getByTestId('load-model').click();
  await page.locator('[data-testid="model-status"]:is([data-state="ready"], [data-state="error"])').waitFor({ timeout: 60_000 });
  const status = page.getByTestId('model-status');
  return { state: await status.getAttribute('data-state'), message: (await status.textContent()) ?? '' };
}

describe.skipIf(!SHARED_DIR)(`demo messages in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ stories260K: join(SHARED_DIR ?? '', 'models', 'stories260K'), broken: SHARED_DIR ? brokenStories() : '' });

  it('says what is wrong with a model address or its files, and leaves no progress bar behind', async () => {
    const context = await suite.browser.newContext();
    const page = await context.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    const bar = page.locator('#load-progress');

    const notAModel = await loadModel(page, 'not a model');
    expect(notAModel).toEqual({
      state: 'error',
      message: "Could not load not a model: 'not a model' is not a model: give a Hugging Face id (owner/name), the URL of a model folder (https://...), or a path on this site starting with /, ./ or ../",
    });

    const nothing = await loadModel(page, '/models/nothing-here/');
    expect(nothing.state).toBe('error');
    expect(nothing.message).toContain(`${suite.server.url}models/nothing-here/config.json: HTTP 404`);
    expect(await bar.isHidden()).toBe(true);

    const broken = await loadModel(page, '/models/broken/');
    expect(broken.state).toBe('error');
    expect(broken.message).toMatch(/model\.safetensors/);
    expect(await bar.isHidden(), 'the progress bar after a failed load').toBe(true);
    expect(await page.locator('#load-progress-text').textContent()).toBe('');

    // A relative path resolves against the page (not the engine's worker script).
    expect(await loadModel(page, './models/stories260K/')).toMatchObject({ state: 'ready' });
    await context.close();
  });

  it('names the dataset problems beside a loaded model instead of being ready to train on 0 examples', async () => {
    const context = await suite.browser.newContext();
    const page = await context.newPage();
    await page.goto(suite.server.url);
    expect(await loadModel(page, '/models/stories260K/')).toMatchObject({ state: 'ready' });
    await page.getByTestId('dataset-input').fill('{"input": "a"}\nnot json\n{"output": "b"}\n{"input": "", "output": "c"}');
    const status = page.getByTestId('train-status');
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toMatch(/^Fix the \d dataset problems? first\.$/);
    expect(await status.getAttribute('data-state')).toBe('empty');
    expect(await page.locator('#train-hint').textContent(), 'the reason is given once').toBe('');
    expect(await page.getByTestId('train').isDisabled()).toBe(true);
    await page.getByTestId('dataset-input').fill('{"input": "Who is Tom?", "output": "A cat."}');
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toBe('Ready to train on 1 example.');
    await context.close();
  });

  it('explains a browser without WebGPU once, in whole sentences, with the flags unbroken', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    const page = await context.newPage();
    await page.goto(suite.server.url);
    const info = page.getByTestId('gpu-info');
    await expect.poll(() => info.getAttribute('data-state'), { timeout: 30_000 }).toBe('error');
    const text = (await info.textContent()) ?? '';
    expect(text).toBe(`WebGPU is not available in this browser. ${BROWSER_HELP} You can still edit and check a dataset here.`);
    expect(text).not.toMatch(/\.\./);
    const flags = info.locator('code.flag');
    expect(await flags.allTextContents()).toEqual(['--enable-unsafe-webgpu', '--enable-features=Vulkan']);
    expect(await flags.first().evaluate((el) => getComputedStyle(el).whiteSpace)).toBe('nowrap');
    // The dataset editor still works.
    await page.getByTestId('dataset-input').fill('{"input": "Who is Tom?", "output": "A cat."}');
    await expect.poll(() => page.getByTestId('dataset-count').textContent(), { timeout: 10_000 }).toMatch(/1/);
    expect(errors).toEqual([]);
    await context.close();
  });
});
