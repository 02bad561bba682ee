// The demo and the widget under a strict Content-Security-Policy, in headless Chromium: no
// 'unsafe-eval', no 'unsafe-inline' (scripts or styles), nothing allowed but this site and, for
// the demo, the model's origin. The demo loads Gemma 3's tiny model (whose chat template runs in
// the engine's worker) from a second origin, trains it and answers through its chat template; the
// widget's example page trains stories260K. No policy is violated, no page error occurs, and
// every request the pages and their workers make goes to the page's origin or the model's.
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { writeTinyGemmaFolder } from '../tokenize/tiny-gemma.js';
import { collectErrors, launchChromium, startDemoServer, startStaticServer, type StaticServer } from './browser.js';
import { fillSettings, PAIRS, PAIRS_JSONL } from './demo-steps.js';
import type { Browser } from 'playwright-core';

/** The policy: this site only, plus `connect` for fetches and `workers` for worker scripts. */
const policy = (connect: string, workers: string) =>
  [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src 'self' ${connect}`,
    `worker-src 'self' ${workers}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

/** Records, for a context: CSP violations (reported in the page and its workers' consoles), page errors and every request's origin. */
function watch(context: BrowserContext) {
  const errors = collectErrors(context);
  const violations: string[] = [];
  const origins = new Set<string>();
  context.on('request', (r) => origins.add(new URL(r.url()).origin));
  context.on('page', (page) => {
    page.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && violations.push(m.text()));
    page.on('worker', (w) => w.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && violations.push(`worker: ${m.text()}`)));
  });
  return { errors, violations, origins };
}

describe.skipIf(!SHARED_DIR)(`demo and widget under a strict Content-Security-Policy${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const tiny = SHARED_DIR ? writeTinyGemmaFolder(PAIRS, SHARED_DIR) : null;
  let models: StaticServer;
  let site: StaticServer;
  let browser: Browser;
  beforeAll(async () => {
    // The models on their own origin, readable cross-origin (ranged reads included).
    models = await startStaticServer({ '/models/tiny-gemma3/': tiny!.dir }, {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': 'Range',
      'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges',
    });
    const modelOrigin = new URL(models.url).origin;
    // The widget's worker is inlined in its one file and started from a blob: URL; the demo's is a file of the site.
    site = await startDemoServer({ stories260K: join(SHARED_DIR!, 'models', 'stories260K') }, { 'Content-Security-Policy': policy(modelOrigin, 'blob:') });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await models?.close();
    tiny?.remove();
  });

  it('the demo loads a model from its origin, trains and answers through the chat template', async () => {
    const context = await browser.newContext();
    const seen = watch(context);
    const page = await context.newPage();
    const response = await page.goto(site.url);
    expect(response?.headers()['content-security-policy']).toMatch(/script-src 'self';/);
    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    await page.getByTestId('model-source').fill(`${models.url}models/tiny-gemma3/`);
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="train-status"][data-state="ready"]').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('model-status').textContent()).toMatch(/ · chat template$/);
    await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
    await fillSettings(page, 1);
    await page.getByTestId('train').click();
    await page.locator('[data-testid="train-status"][data-state="done"]').waitFor({ timeout: 300_000 });
    await page.getByTestId('prompt').fill(PAIRS[0][0]);
    await page.getByTestId('generate').click();
    await page.locator('[data-testid="output"][data-state="done"]').waitFor({ timeout: 120_000 });

    expect(seen.violations).toEqual([]);
    expect(seen.errors).toEqual([]);
    expect([...seen.origins].sort()).toEqual([new URL(site.url).origin, new URL(models.url).origin].sort());
    await context.close();
  }, 600_000);

  it('the widget example page trains, styled, with nothing inline', async () => {
    const context = await browser.newContext();
    const seen = watch(context);
    const page = await context.newPage();
    await page.goto(`${site.url}widget/example.html`);
    // The widget's styles apply (a constructed stylesheet, not a <style> element).
    expect(await page.locator('lora-trainer').evaluate((el) => getComputedStyle(el).display)).toBe('inline-block');
    await page.locator('lora-trainer [data-testid="train"]').click();
    await expect.poll(() => page.locator('#log').textContent(), { timeout: 300_000 }).toMatch(/^trained 8 steps/m);
    expect(seen.violations).toEqual([]);
    expect(seen.errors).toEqual([]);
    expect([...seen.origins].filter((o) => o !== 'null' && !o.startsWith('blob:'))).toEqual([new URL(site.url).origin]);
    await context.close();
  }, 600_000);
});
