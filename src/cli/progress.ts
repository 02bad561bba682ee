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

/** 172741 → "172,741" (grouped the same way on every machine). */
const count = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** "tokenizing: 43% (74,000 of 172,741 examples)". */
export function describeCount(what: string, done: number, total: number, unit: string): string {
  const percent = total > 0 ? Math.floor((100 * done) / total) : 100;
  return `${what}: ${percent}% (${count(done)} of ${count(total)} ${unit})`;
}

/**
 * Progress of a long count that has no steps yet (the lines of the data checked, the examples
 * tokenized). Quiet for the first `quietMs`, so a small file prints nothing; after that, on a TTY
 * one line redrawn in place (at most every 100 ms), else a plain line at each further 10 %; and
 * the last count, once anything was shown.
 */
export class CountPrinter {
  private readonly start: number;
  private shown = false;
  private lastDraw = -Infinity;
  private lastTenth = -1;

  constructor(
    private readonly out: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean },
    private readonly what: string,
    private readonly unit: string,
    private readonly quietMs = 1000,
    private readonly now: () => number = () => performance.now(),
    private readonly tty = out.isTTY === true,
  ) {
    this.start = now();
  }

  update(done: number, total: number): void {
    const t = this.now();
    const last = done >= total;
    if (!this.shown && t - this.start < this.quietMs) return; // (also when it ends that soon)
    const text = describeCount(this.what, done, total, this.unit);
    if (this.tty) {
      if (!last && t - this.lastDraw < 100) return;
      this.out.write(`\r${text}\x1b[K${last ? '\n' : ''}`);
    } else {
      const tenth = Math.floor((10 * done) / Math.max(1, total));
      if (!last && tenth === this.lastTenth) return;
      this.lastTenth = tenth;
      this.out.write(`${text}\n`);
    }
    this.shown = true;
    this.lastDraw = t;
  }
}
