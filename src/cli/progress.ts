// Training progress in a terminal: one line redrawn in place on a TTY (a bar, step/total, loss, lr,
// tokens/s, ETA), or, when the output is a file or a pipe, one plain line every few steps and
// always the last.
import type { EvalEvent, StepEvent } from '../train/trainer.js';

/** 65 → "1m05s", 3_725 → "1h02m", 9 → "9s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function describeStep(e: StepEvent): string {
  const width = String(e.totalSteps).length;
  return (
    `step ${String(e.step).padStart(width)}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  ` +
    `lr ${e.learningRate.toExponential(2)}  ${Math.round(e.tokensPerSecond)} tok/s  elapsed ${formatDuration(e.elapsedMs)}  ETA ${formatDuration(e.etaMs)}`
  );
}

export function describeEval(e: EvalEvent): string {
  return `${e.step === 0 ? 'before training' : `step ${e.step}`}: validation loss ${e.validationLoss.toFixed(4)}`;
}

export class ProgressPrinter {
  private barShown = false;
  /** Plain mode prints every `every`-th step. */
  private readonly every: number;

  constructor(
    private readonly out: NodeJS.WriteStream,
    totalSteps: number,
    private readonly tty = out.isTTY === true,
  ) {
    this.every = Math.max(1, Math.ceil(totalSteps / 20));
  }

  step(e: StepEvent): void {
    if (!this.tty) {
      if (e.step % this.every === 0 || e.step === e.totalSteps) this.out.write(`${describeStep(e)}\n`);
      return;
    }
    const columns = this.out.columns ?? 100;
    const barWidth = Math.max(10, Math.min(30, columns - 90));
    const done = Math.round((barWidth * e.step) / e.totalSteps);
    const line = `[${'#'.repeat(done)}${'.'.repeat(barWidth - done)}] ${describeStep(e)}`;
    this.out.write(`\r${line.slice(0, Math.max(20, columns - 1))}\x1b[K`);
    this.barShown = true;
  }

  /** A line of its own, above the bar on a TTY. */
  line(text: string): void {
    if (this.tty && this.barShown) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    this.barShown = false;
  }

  /** Ends the bar's line. */
  finish(): void {
    if (this.tty && this.barShown) this.out.write('\n');
    this.barShown = false;
  }
}
