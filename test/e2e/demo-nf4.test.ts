// The demo's weights format in headless Chromium: stories260K loaded from a local URL (f32, the
// default), then every format offered with its training-memory estimate (worked out on the page
// from the model's config.json, f32 > f16 > q8 > nf4), a "GPU memory to use" between the nf4 and
// q8 totals making the page propose nf4 (selected, with its one-sentence reason and a note that
// the loaded model has f32 weights), a choice of f32 by hand kept with a warning, and the model
// loaded again with nf4 (the status line and the engine's estimate say nf4) and trained: the loss
// falls. And the widget's weights attribute: a bad value is an error naming the attribute and its
// values; weights="nf4" is what the engine loads, and the example page's run trains with it.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { collectErrors, demoSuite } from './browser.js';
import { fillSettings, PAIRS_JSONL } from './demo-steps.js';

const FORMATS = ['f32', 'f16', 'q8', 'nf4'] as const;

describe.skipIf(!SHARED_DIR)(`demo trains with nf4 weights in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ stories260K: join(SHARED_DIR ?? '', 'models', 'stories260K') });

  it('offers the formats with their estimates, proposes nf4 when only nf4 fits, and trains stories260K with nf4', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);

    const weights = page.getByTestId('model-weights');
    expect(await weights.inputValue()).toBe('f32');
    await page.getByTestId('model-source').fill('/models/stories260K/');
    // A model outside the list: no estimate until it is loaded.
    await expect.poll(() => page.getByTestId('weights-basis').textContent()).toMatch(/appear once it is loaded/);
    await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
    await fillSettings(page);

    const status = page.getByTestId('model-status');
    const load = async () => {
      await page.getByTestId('load-model').click();
      await page.locator('[data-testid="model-status"]:is([data-state="ready"], [data-state="error"])').waitFor({ timeout: 60_000 });
      expect(await status.getAttribute('data-state'), (await status.textContent()) ?? '').toBe('ready');
    };
    await load();
    expect(await status.textContent()).toMatch(/^llama: 5 layers, width 64, .* MiB on the GPU \(f32 weights\)/);

    // Once loaded, every format with its estimate (from the page's copy of config.json), all fitting.
    const options = () =>
      weights.locator('option').evaluateAll((els) => els.map((o) => ({ value: (o as HTMLOptionElement).value, text: o.textContent ?? '', total: Number((o as HTMLElement).dataset.totalBytes || NaN), fits: (o as HTMLElement).dataset.fits })));
    await expect.poll(async () => (await options()).every((o) => o.total > 0), { timeout: 10_000 }).toBe(true);
    const offered = await options();
    expect(offered.map((o) => o.value)).toEqual([...FORMATS]);
    for (const o of offered) {
      expect(o.fits, o.text).toBe('true');
      expect(o.text).toMatch(new RegExp(`^${o.value} \\(.*\\): ≈ [\\d.]+ (MiB|GiB), fits$`));
    }
    const total = Object.fromEntries(offered.map((o) => [o.value, o.total])) as Record<(typeof FORMATS)[number], number>;
    expect(total.f16).toBeLessThan(total.f32);
    expect(total.q8).toBeLessThan(total.f16);
    expect(total.nf4).toBeLessThan(total.q8);
    expect(await page.getByTestId('weights-basis').textContent()).toMatch(/^Training memory for \/models\/stories260K\/, batches of 2 × 512 tokens; fits: every buffer within/);

    // A budget between the nf4 and the q8 totals: only nf4 fits, and the page selects it, saying why.
    const note = page.getByTestId('weights-note');
    await page.getByTestId('gpu-memory').fill(String((total.nf4 + total.q8) / 2 / 2 ** 30));
    await expect.poll(() => weights.inputValue()).toBe('nf4');
    expect(await note.getAttribute('data-state')).toBe('proposed');
    expect(await note.textContent()).toMatch(/^Only 4-bit NF4 weights fit this GPU's limits: selected \(f32 weights: ≈ [\d.]+ MiB is more than the [\d.]+ MiB of GPU memory to use\)\. The model on the GPU has f32 weights: load it again to use nf4\.$/);
    expect((await options()).map((o) => o.fits)).toEqual(['false', 'false', 'false', 'true']);
    // The person can still choose another format: it is kept, with a warning naming the one that fits.
    await weights.selectOption('f32');
    expect(await weights.inputValue()).toBe('f32');
    expect(await note.getAttribute('data-state')).toBe('warning');
    expect(await note.textContent()).toMatch(/^⚠ f32 weights do not fit this GPU's limits \(.*\); nf4 would \(≈ [\d.]+ MiB\)\.$/);
    await weights.selectOption('nf4');
    expect(await note.textContent()).toBe('The model on the GPU has f32 weights: load it again to use nf4.');

    // Loaded again: the engine stored the projections as nf4, and its estimate is for nf4.
    await load();
    expect(await status.textContent()).toMatch(/MiB on the GPU \(nf4 weights\)/);
    await expect.poll(() => note.textContent()).toBe('');
    await expect.poll(() => page.getByTestId('memory-estimate').textContent(), { timeout: 30_000 }).toMatch(/^model [\d.]+ MiB \(nf4 weights\)[^]*fits$/);

    await page.getByTestId('train').click();
    await page.locator('[data-testid="train-status"][data-state="done"]').waitFor({ timeout: 300_000 });
    const train = page.getByTestId('train-status');
    const first = Number(await train.getAttribute('data-first-loss'));
    const last = Number(await train.getAttribute('data-last-loss'));
    expect(last, `loss ${first} → ${last}`).toBeLessThan(first / 4);
    console.log(`demo training with nf4 weights: loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the widget loads the model with its weights attribute: nf4 trains, a bad value names the attribute', async () => {
    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    const page = await context.newPage();
    await page.goto(`${suite.server.url}widget/example.html`);
    const trainer = page.locator('lora-trainer');
    const state = trainer.locator('[data-testid="status"]');
    const model = trainer.locator('[data-testid="model"]');
    await trainer.evaluate((el) => el.setAttribute('weights', 'int4'));
    await expect.poll(() => state.getAttribute('data-state')).toBe('error');
    expect(await state.textContent()).toBe('attribute weights: must be one of f32, f16, q8 or nf4, got "int4"');
    await trainer.evaluate((el) => el.setAttribute('weights', 'nf4'));
    await expect.poll(() => state.getAttribute('data-state')).not.toBe('error');
    expect(await model.textContent()).toBe('stories260K · nf4 weights');
    expect(await model.getAttribute('data-weights')).toBe('');

    const log = page.locator('#log');
    await trainer.locator('[data-testid="train"]').click();
    await expect.poll(() => log.textContent(), { timeout: 300_000 }).toMatch(/^trained 8 steps/m);
    expect(await model.getAttribute('data-weights')).toBe('nf4');
    const losses = [...(await log.textContent())!.matchAll(/^progress step \d+\/8 loss ([\d.]+)/gm)].map((m) => Number(m[1]));
    expect(losses).toHaveLength(8);
    expect(losses.at(-1)!, losses.join(' ')).toBeLessThan(losses[0] / 2);
    expect(errors).toEqual([]);
    await context.close();
  });
});
