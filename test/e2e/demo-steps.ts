// Steps that several demo tests share: the dataset they paste, the settings that make
// stories260K learn it in a few steps on SwiftShader, and a watch on main-thread stalls.
import type { Page } from 'playwright-core';

export const PAIRS = [
  ['Who is Lily?', 'Lily is a girl.'],
  ['Where is the cat?', 'The cat is in the box.'],
];
export const PAIRS_JSONL = PAIRS.map(([input, output]) => JSON.stringify({ input, output })).join('\n');

/**
 * Ten steps of batch 2 at learning rate 1e-2 on the attention projections, rank 4, alpha 8 (the
 * settings of golden/qwen2-attn), no validation split: enough for stories260K to learn both answers.
 */
export async function fillSettings(page: Page, epochs = 10): Promise<void> {
  const values: Record<string, string> = { epochs: String(epochs), 'learning-rate': '1e-2', rank: '4', alpha: '8', 'batch-size': '2', 'val-split': '0' };
  for (const [id, value] of Object.entries(values)) await page.getByTestId(id).fill(value);
  await page.getByTestId('targets').selectOption('attention');
}

export interface Stalls {
  /** Stops watching; the longest stall seen, in ms. */
  stop(): Promise<number>;
}

/**
 * Watches the page's main thread: a 10 ms timer that measures how late each tick runs. A tick
 * that comes more than 10 ms + x late means the event loop was blocked for about x ms.
 */
export async function watchStalls(page: Page): Promise<Stalls> {
  await page.evaluate(() => {
    const w = window as unknown as { stallWatch: { longest: number; running: boolean } };
    w.stallWatch = { longest: 0, running: true };
    let last = performance.now();
    const tick = () => {
      const now = performance.now();
      w.stallWatch.longest = Math.max(w.stallWatch.longest, now - last - 10);
      last = now;
      if (w.stallWatch.running) setTimeout(tick, 10);
    };
    setTimeout(tick, 10);
  });
  return {
    stop: () =>
      page.evaluate(() => {
        const w = window as unknown as { stallWatch: { longest: number; running: boolean } };
        w.stallWatch.running = false;
        return w.stallWatch.longest;
      }),
  };
}
