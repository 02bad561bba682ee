// The demo page in headless Chromium: WebGPU found, stories260K loaded from a local URL, and
// the greedy continuation streamed into the page, identical to the Node run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { AFTER_ONCE_IDS } from '../stories-readme.js';
import { CHROMIUM, launchChromium, startDemoServer } from './browser.js';

// Chromium is part of what .ci/run installs; its absence is a broken setup, not a reason to skip.
describe.skipIf(!SHARED_DIR)(`demo page in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let browser: Browser;
  let server: ViteDevServer;
  let url: string;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} (Debian's chromium package) is needed`).toBe(true);
    ({ url, server } = await startDemoServer(join(SHARED_DIR!, 'models')));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads stories260K from a URL and generates the reference continuation', async () => {
    const dir = join(SHARED_DIR!, 'models', 'stories260K');
    const expected = (await TextTokenizer.load(folderSource(dir))).decode(AFTER_ONCE_IDS.slice(0, 40));

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Optional files of a model folder are probed and may be absent: a 404 is only an error
    // for anything else.
    const optional = /(model\.safetensors\.index\.json|chat_template\.(jinja|json)|special_tokens_map\.json|generation_config\.json|favicon\.ico)$/;
    const notFound: string[] = [];
    page.on('response', (r) => r.status() === 404 && notFound.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(m.text()));
    await page.goto(url);

    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    await page.getByTestId('model-source').fill('/models/stories260K/');
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="model-status"][data-state="ready"]').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('model-status').textContent()).toMatch(/llama: 5 layers, width 64/);

    await page.getByTestId('prompt').fill('Once upon a time');
    await page.locator('#max-new-tokens').fill('40');
    await page.locator('#temperature').fill('0');
    await page.getByTestId('generate').click();
    await expect.poll(() => page.getByTestId('output').textContent(), { timeout: 60_000 }).toBe(expected);
    expect(errors).toEqual([]);
    expect(notFound.filter((u) => !optional.test(u))).toEqual([]);
  });
});
