// The training progress display: a bar redrawn in place on a TTY, plain lines every few steps otherwise.
import { describe, expect, it } from 'vitest';
import { describeEval, describeStep, formatDuration, ProgressPrinter } from '../../src/cli/progress.js';
import type { StepEvent } from '../../src/train/trainer.js';

function fakeStream(isTTY: boolean, columns = 160) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns, write: (s: string) => chunks.push(s) > 0 } as unknown as NodeJS.WriteStream };
}

const event = (step: number, totalSteps: number): StepEvent => ({
  step, totalSteps, epoch: step / 10, loss: 1.23456, learningRate: 2e-4, tokensPerSecond: 1234.4, elapsedMs: 65_000, etaMs: 3_725_000,
});

describe('training progress', () => {
  it('formats durations and events', () => {
    expect([formatDuration(9_000), formatDuration(65_000), formatDuration(3_725_000), formatDuration(NaN)]).toEqual(['9s', '1m05s', '1h02m', '?']);
    expect(describeStep(event(7, 120))).toBe('step   7/120  epoch 0.70  loss 1.2346  lr 2.00e-4  1234 tok/s  elapsed 1m05s  ETA 1h02m');
    expect(describeEval({ step: 0, validationLoss: 2.5 })).toBe('before training: validation loss 2.5000');
    expect(describeEval({ step: 30, validationLoss: 1 })).toBe('step 30: validation loss 1.0000');
  });

  it('redraws one line on a TTY, with messages above it', () => {
    const { chunks, stream } = fakeStream(true);
    const p = new ProgressPrinter(stream, 10);
    p.step(event(5, 10));
    p.line('step 5: validation loss 1.0000');
    p.step(event(10, 10));
    p.finish();
    expect(chunks[0]).toMatch(/^\r\[#{15}\.{15}\] step {2}5\/10 {2}epoch 0\.50 .*ETA 1h02m\x1b\[K$/);
    expect(chunks.slice(1, 3)).toEqual(['\r\x1b[K', 'step 5: validation loss 1.0000\n']);
    expect(chunks[3]).toMatch(/^\r\[#{30}\] step 10\/10/);
    expect(chunks[4]).toBe('\n');
  });

  it('prints a plain line every few steps, and the last, when the output is not a TTY', () => {
    const { chunks, stream } = fakeStream(false);
    const p = new ProgressPrinter(stream, 45); // every ⌈45/20⌉ = 3 steps
    for (let k = 1; k <= 45; k++) p.step(event(k, 45));
    p.finish();
    expect(chunks.map((c) => Number(/^step +(\d+)\//.exec(c)![1]))).toEqual(Array.from({ length: 15 }, (_, i) => 3 * (i + 1)));
    const q = fakeStream(false);
    const p2 = new ProgressPrinter(q.stream, 7);
    for (let k = 1; k <= 7; k++) p2.step(event(k, 7));
    expect(q.chunks.length).toBe(7);
    expect(q.chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
  });
});
