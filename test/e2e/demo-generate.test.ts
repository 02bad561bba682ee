// The built demo page in headless Chromium: WebGPU found, stories260K loaded from a local URL, and
// the base model's greedy continuation streamed into the page, identical to the Node run; then the
// same model loaded with f16 weights (about half the GPU memory) generating again.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { AFTER_ONCE_IDS } from '../stories-readme.js';
import { collectErrors, demoSuite } from './browser.js';

describe.skipIf(!SHARED_DIR)(`demo page in Chromium${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const suite = demoSuite({ stories260K: join(SHARED_DIR ?? '', 'models', 'stories260K') });

  it('loads stories260K from a URL, generates the reference continuation, and reloads it with f16 weights', async () => {
    const dir = join(SHARED_DIR!, 'models', 'stories260K');
    const expected = (await TextTokenizer.load(folderSource(dir))).decode(AFTER_ONCE_IDS.slice(0, 40));

    const context = await suite.browser.newContext();
    const errors = collectErrors(context);
    // Optional files of a model folder are probed and may be absent: a 404 is only an error for anything else.
    const optional = /(model\.safetensors\.index\.json|chat_template\.(jinja|json)|special_tokens_map\.json|generation_config\.json)$/;
    const notFound: string[] = [];
    context.on('response', (r) => r.status() === 404 && notFound.push(r.url()));
    const page = await context.newPage();
    await page.goto(suite.server.url);

    await expect.poll(() => page.getByTestId('gpu-info').textContent(), { timeout: 30_000 }).toMatch(/^adapter: /);
    await expect(page.getByTestId('train-status').getAttribute('data-state')).resolves.toBe('empty');
    await page.getByTestId('model-source').fill('/models/stories260K/');
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="model-status"][data-state="ready"]').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('model-status').textContent()).toMatch(/llama: 5 layers, width 64, 8 heads \(4 kv\), vocabulary 512/);
    await expect(page.getByTestId('train-status').getAttribute('data-state')).resolves.toBe('ready');

    await page.getByTestId('prompt').fill('Once upon a time');
    await page.locator('#raw-continuation').check();
    await page.locator('#max-new-tokens').fill('40');
    await page.locator('#temperature').fill('0');
    await page.getByTestId('generate').click();
    await page.locator('[data-testid="output"][data-state="done"]').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('base-output').textContent()).toBe(expected);
    // No adapter yet: the fine-tuned column says how to get one.
    expect(await page.getByTestId('output').textContent()).toMatch(/train or import an adapter/i);

    // Loaded again with f16 weights: about half the GPU memory, and it still generates.
    const gpuMiB = async () => Number(/([\d.]+) MiB on the GPU/.exec((await page.getByTestId('model-status').textContent()) ?? '')?.[1]);
    const f32MiB = await gpuMiB();
    await page.getByTestId('model-weights').selectOption('f16');
    await page.getByTestId('load-model').click();
    await page.locator('[data-testid="model-status"][data-state="ready"]').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('model-status').textContent()).toMatch(/\(f16 weights\)/);
    expect(await gpuMiB()).toBeLessThan(0.6 * f32MiB);
    await page.getByTestId('generate').click();
    await page.locator('[data-testid="output"][data-state="done"]').waitFor({ timeout: 60_000 });
    expect((await page.getByTestId('base-output').textContent())?.length).toBeGreaterThan(20);
    expect(errors).toEqual([]);
    expect(notFound.filter((u) => !optional.test(u))).toEqual([]);
    await context.close();
  });
});
