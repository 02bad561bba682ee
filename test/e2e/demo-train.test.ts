// The demo's whole job in headless Chromium: load stories260K from a local URL, paste a dataset,
// train (the loss falls, the page stays responsive, a screenshot is taken mid-training), answer a
// trained prompt with the trained answer, and export a zip whose adapter has PEFT's key names and
// config for the same settings.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unzipFiles } from '../../src/io/zip.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { memorySource } from '../../src/model/source.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { storiesEndingWithBos } from '../stories-eos.js';
import { collectErrors, demoSuite } from './browser.js';
import { fillSettings, PAIRS, PAIRS_JSONL, watchStalls, type Stalls } from './demo-steps.js';

export const SCREENSHOT = join(import.meta.dirname, '..', '..', 'docs', 'demo-training.png');

describe.skipIf(!SHARED_DIR)(`demo page trains in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ 'stories-eos': SHARED_DIR ? storiesEndingWithBos() : '' });

  it('trains on a pasted dataset, answers with the trained answer, and exports a PEFT adapter', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const errors = collectErrors(context);
    const page = await context.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    await page.getByTestId('model-source').fill('/models/stories-eos/');
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="train-status"][data-state="ready"]').waitFor({ timeout: 60_000 });

    await page.getByTestId('dataset-input').fill(PAIRS_JSONL);
    await expect.poll(() => page.getByTestId('dataset-count').textContent()).toMatch(/^2 examples/);
    await fillSettings(page);
    await expect.poll(() => page.getByTestId('memory-estimate').textContent(), { timeout: 30_000 }).toMatch(/fits/);
    // Checkpointing is off: the estimate also says what turning it on would take, and that is less.
    const estimate = (await page.getByTestId('memory-estimate').textContent()) ?? '';
    const total = Number(/total ([\d.]+) MiB/.exec(estimate)?.[1]);
    const checkpointed = Number(/with gradient checkpointing: ([\d.]+) MiB/.exec(estimate)?.[1]);
    expect(checkpointed, estimate).toBeGreaterThan(0);
    expect(checkpointed).toBeLessThan(total);

    // The main thread is watched from the click on Train to the end of the run, except while
    // Playwright captures the screenshot (capturing a page blocks its renderer by itself).
    let stalls: Stalls = await watchStalls(page);
    await page.getByTestId('train').click();
    await page.locator('[data-testid="train-status"][data-state="training"]').waitFor({ timeout: 30_000 });
    // Mid-training: a few steps in, the chart has something to show.
    await expect.poll(() => page.getByTestId('train-status').textContent(), { timeout: 120_000 }).toMatch(/step [3-9]\b/i);
    const beforeScreenshot = await stalls.stop();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    stalls = await watchStalls(page);
    await page.locator('[data-testid="train-status"][data-state="done"]').waitFor({ timeout: 300_000 });

    // The main thread never stalled: the engine's work is all in the worker.
    const longest = Math.max(beforeScreenshot, await stalls.stop());
    expect(longest, 'the longest main-thread stall during training, in ms').toBeLessThanOrEqual(100);

    const status = page.getByTestId('train-status');
    const first = Number(await status.getAttribute('data-first-loss'));
    const last = Number(await status.getAttribute('data-last-loss'));
    expect(last, `loss ${first} → ${last}`).toBeLessThan(first / 4);
    console.log(`demo training: loss ${first.toFixed(3)} → ${last.toFixed(3)}, longest main-thread stall ${longest.toFixed(0)} ms`);

    // The fine-tuned answer to a trained input is the trained answer.
    await page.getByTestId('prompt').fill(PAIRS[0][0]);
    await page.getByTestId('generate').click();
    await page.locator('[data-testid="output"][data-state="done"]').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('output').textContent()).toBe(PAIRS[0][1]);

    // Export: a zip with PEFT's two files, the key names and config PEFT writes for these settings
    // (golden/qwen2-attn is PEFT's adapter for r 4, alpha 8 on q/k/v/o).
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
    const files = await unzipFiles(new Uint8Array(readFileSync(await download.path())));
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const golden = join(SHARED_DIR!, 'golden');
    const peftConfig = JSON.parse(readFileSync(join(golden, 'qwen2-attn', 'adapter_config.json'), 'utf8'));
    const ours = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(peftConfig).sort());
    const comparable = (c: Record<string, unknown>) => ({ ...c, base_model_name_or_path: null, target_modules: [...(c.target_modules as string[])].sort() });
    expect(comparable(ours)).toEqual(comparable(peftConfig));
    // Key names and shapes: PEFT's stories260K adapter (all linear layers, r 4) restricted to q/k/v/o.
    const peftTensors = (await readSafetensorsHeader(folderSource(join(golden, 'stories260K-all-linear')), 'adapter_model.safetensors')).tensors;
    const header = await readSafetensorsHeader(memorySource(files), 'adapter_model.safetensors');
    const attention = [...peftTensors.values()].filter((t) => /self_attn\.[qkvo]_proj/.test(t.name));
    expect([...header.tensors.keys()].sort()).toEqual(attention.map((t) => t.name).sort());
    for (const t of attention) expect(header.tensors.get(t.name)!.shape, t.name).toEqual(t.shape);
    expect(header.metadata).toEqual({ format: 'pt' });

    expect(errors).toEqual([]);
    await context.close();
  });
});
