// The demo with Gemma 3 models in headless Chromium, used as a person would use it: a model folder
// loaded from a local URL, the pasted pairs trained for two epochs (two steps: a first loss near
// ln V, a second one below it), and an answer generated with the trained adapter, with no page
// errors. Two gemma3_text models ((1 + w) norms,
// GeGLU, four norms a block, sliding-window layers, tiny random weights):
//   tiny-random-gemma3, the golden model (3 layers, head size 256, a sliding window of 5 tokens, so
//   the pasted pairs reach past it), which ships no tokenizer: test/tokenize/tiny-gemma.ts writes
//   it a folder with a tokenizer of its 384 ids learned from these pairs and Gemma 3's real chat
//   template (from ../shared/models/gemma3-vocab), which the demo reads like any other;
//   gemma3-vocab, with Gemma 3's real tokenizer of 262,144 ids and its chat template: the real
//   tokenizer and a large vocabulary (a 262,144-row head) in the browser.
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { writeTinyGemmaFolder } from '../tokenize/tiny-gemma.js';
import { collectErrors, demoSuite } from './browser.js';
import { fillSettings, PAIRS, PAIRS_JSONL } from './demo-steps.js';

describe.skipIf(!SHARED_DIR)(`demo page trains Gemma 3 in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const tiny = SHARED_DIR ? writeTinyGemmaFolder(PAIRS, SHARED_DIR) : null;
  afterAll(() => tiny?.remove());
  const suite = demoSuite({
    'tiny-gemma3': tiny?.dir ?? '',
    gemma3: join(SHARED_DIR ?? '', 'models', 'gemma3-vocab'),
  });

  /**
   * Loads /models/<name>/, checks the model line against `model`, trains two epochs on the pasted
   * pairs and generates an answer to the first question with the adapter. Returns the first and
   * last training losses and the answer's meta line ('N tokens · why it stopped').
   */
  async function loadTrainGenerate(context: BrowserContext, name: string, model: RegExp): Promise<{ first: number; last: number; meta: string }> {
    const page = await context.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    await page.getByTestId('model-source').fill(`/models/${name}/`);
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="train-status"][data-state="ready"]').waitFor({ timeout: 120_000 });
    const described = await page.getByTestId('model-status').textContent();
    expect(described).toMatch(model);
    expect(described).toMatch(/ · chat template$/);

    await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
    await expect.poll(() => page.getByTestId('dataset-count').textContent()).toMatch(/^2 examples/);
    await fillSettings(page, 2);
    await page.getByTestId('train').click();
    await page.locator('[data-testid="train-status"][data-state="done"]').waitFor({ timeout: 300_000 });
    const status = page.getByTestId('train-status');
    const first = Number(await status.getAttribute('data-first-loss'));
    const last = Number(await status.getAttribute('data-last-loss'));

    await page.getByTestId('prompt').fill(PAIRS[0][0]);
    await page.getByTestId('generate').click();
    await page.locator('[data-testid="output"][data-state="done"]').waitFor({ timeout: 120_000 });
    const meta = (await page.locator('#output-meta').textContent()) ?? '';
    return { first, last, meta };
  }

  /**
   * The two steps' losses. Random weights predict nearly uniformly over the V ids, so the first is
   * close to ln V (5.95 for 384 ids, 12.48 for 262,144); both steps see the same batch (both
   * pairs), so the AdamW step between them lowers the second.
   */
  function expectLosses(first: number, last: number, V: number): void {
    expect(Math.abs(first - Math.log(V)), `first loss ${first}, ln V = ${Math.log(V)}`).toBeLessThan(0.5);
    expect(Number.isFinite(last) && last > 0 && last < first, `last loss ${last} after a first loss of ${first}`).toBe(true);
  }

  it('loads tiny-random-gemma3 with a generated tokenizer from a URL, trains two epochs on pasted pairs and generates with the adapter', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const { first, last, meta } = await loadTrainGenerate(context, 'tiny-gemma3', /^gemma3_text: 3 layers, width 64, .*vocabulary 384\b/);
    expectLosses(first, last, 384);
    expect(meta).toMatch(/^[1-9]\d* tokens · (ended by the model|reached max new tokens)$/);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("loads gemma3-vocab (Gemma 3's real tokenizer of 262,144 ids) from a URL, trains two epochs on pasted pairs and generates with the adapter", async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const { first, last, meta } = await loadTrainGenerate(context, 'gemma3', /^gemma3_text: 2 layers, .*vocabulary 262144\b/);
    expectLosses(first, last, 262_144);
    expect(meta).toMatch(/^[1-9]\d* tokens · (ended by the model|reached max new tokens)$/);
    expect(errors).toEqual([]);
    await context.close();
  });
});
