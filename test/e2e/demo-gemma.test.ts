// The demo with a Gemma 3 model in headless Chromium: ../shared/models/gemma3-vocab (gemma3_text:
// (1 + w) norms, GeGLU, four norms a block, sliding-window layers, Gemma 3's tokenizer of 262,144
// ids and its chat template; tiny random weights) loaded from a local URL, two epochs on the
// pasted pairs, a finite loss, and an answer generated with the trained adapter.
// (tiny-random-gemma3, the golden model, has no tokenizer, so the demo cannot train it on text.)
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { collectErrors, demoSuite } from './browser.js';
import { fillSettings, PAIRS, PAIRS_JSONL } from './demo-steps.js';

describe.skipIf(!SHARED_DIR)(`demo page trains Gemma 3 in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ gemma3: join(SHARED_DIR!, 'models', 'gemma3-vocab') });

  it('loads gemma3_text from a URL, trains two epochs on pasted pairs and generates with the adapter', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    await page.getByTestId('model-source').fill('/models/gemma3/');
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="train-status"][data-state="ready"]').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('model-status').textContent()).toMatch(/gemma3/i);

    await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
    await expect.poll(() => page.getByTestId('dataset-count').textContent()).toMatch(/^2 examples/);
    await fillSettings(page, 2);
    await page.getByTestId('train').click();
    await page.locator('[data-testid="train-status"][data-state="done"]').waitFor({ timeout: 300_000 });
    const status = page.getByTestId('train-status');
    const first = Number(await status.getAttribute('data-first-loss'));
    const last = Number(await status.getAttribute('data-last-loss'));
    expect(Number.isFinite(first) && first > 0, `first loss ${first}`).toBe(true);
    expect(Number.isFinite(last) && last > 0, `last loss ${last}`).toBe(true);

    await page.getByTestId('prompt').fill(PAIRS[0][0]);
    await page.getByTestId('generate').click();
    await page.locator('[data-testid="output"][data-state="done"]').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('output').getAttribute('data-state')).toBe('done');
    expect(errors).toEqual([]);
    await context.close();
  });
});
