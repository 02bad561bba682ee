// Two end-to-end checks in headless Chromium: the demo works offline after one visit (the service
// worker serves the app, Cache Storage the model), and the <lora-trainer> widget's example page
// trains and emits `exported` with the adapter files.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { storiesEndingWithBos } from '../stories-eos.js';
import { collectErrors, demoSuite } from './browser.js';
import { fillSettings, PAIRS_JSONL } from './demo-steps.js';

describe.skipIf(!SHARED_DIR)(`offline demo and widget in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ 'stories-eos': SHARED_DIR ? storiesEndingWithBos() : '', stories260K: join(SHARED_DIR ?? '', 'models', 'stories260K') });

  it('loads and trains with the network off after one visit', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    // The visit online: the service worker installs (storing the app) and the model is downloaded once.
    await page.goto(suite.server.url);
    await page.evaluate(async () => void (await navigator.serviceWorker.ready));
    await page.getByTestId('model-source').fill('/models/stories-eos/');
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="train-status"][data-state="ready"]').waitFor({ timeout: 60_000 });

    // Offline: every request that reaches the network fails from here on, so what follows works
    // only from the service worker's and the engine's caches.
    await context.setOffline(true);
    await page.reload();
    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    await page.getByTestId('model-source').fill('/models/stories-eos/');
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="train-status"][data-state="ready"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
    await fillSettings(page, 2);
    await page.getByTestId('train').click();
    await page.locator('[data-testid="train-status"][data-state="done"]').waitFor({ timeout: 180_000 });
    expect(await page.getByTestId('train-status').textContent()).toMatch(/2\/2 steps/);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the widget example page trains and emits exported', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    await page.goto(`${suite.server.url}widget/example.html`);
    const log = page.locator('#log');
    await page.locator('lora-trainer [data-testid="train"]').click();
    await expect.poll(() => log.textContent(), { timeout: 300_000 }).toMatch(/^trained 8 steps/m);
    expect(await page.locator('lora-trainer [data-testid="status"]').getAttribute('data-state')).toBe('done');
    // Progress events came for every step, and the loss fell.
    const losses = [...(await log.textContent())!.matchAll(/^progress step \d+\/8 loss ([\d.]+)/gm)].map((m) => Number(m[1]));
    expect(losses).toHaveLength(8);
    expect(losses.at(-1)!).toBeLessThan(losses[0] / 2);

    const detail = page.evaluate(() => new Promise<{ names: string[]; zip: number; config: { r: number } }>((resolve) => {
      document.querySelector('lora-trainer')!.addEventListener('exported', (e) => {
        const d = (e as CustomEvent<{ files: Record<string, Uint8Array>; zip: Blob }>).detail;
        resolve({ names: Object.keys(d.files).sort(), zip: d.zip.size, config: JSON.parse(new TextDecoder().decode(d.files['adapter_config.json'])) });
      }, { once: true });
    }));
    await page.locator('lora-trainer [data-testid="export"]').click();
    const exported = await detail;
    expect(exported.names).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(exported.config.r).toBe(8);
    expect(exported.zip).toBeGreaterThan(0);
    await expect.poll(() => log.textContent()).toMatch(/^exported adapter_config\.json adapter_model\.safetensors/m);
    expect(errors).toEqual([]);
    await context.close();
  });
});
