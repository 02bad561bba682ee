// Progress in a terminal: of training, one line redrawn in place on a TTY (a bar, step/total,
// loss, lr, tokens/s, ETA), or, when the output is a file or a pipe, one plain line every few
// steps and always the last; of long counts (CountPrinter) and of model downloads (DownloadPrinter)
// the same way.
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

/** Where progress goes: a stream's write, and whether it is a terminal (and how wide). */
type Out = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };

/**
 * Progress of a long count that has no steps yet (the lines of the data checked, the examples
 * tokenized). Quiet for the first `quietMs`, so a small file prints nothing; after that, on a TTY
 * one line redrawn in place (at most every 100 ms), else a plain line at each further 10 %; and
 * the last count, once anything was shown. Subclasses may word the line (describe) and draw it
 * on a TTY (drawLine) their own way.
 */
export class CountPrinter {
  private readonly start: number;
  protected shown = false;
  private lastDraw = -Infinity;
  private lastTenth = -1;

  constructor(
    protected readonly out: Out,
    protected readonly what: string,
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
    const text = this.describe(done, total);
    if (this.tty) {
      if (!last && t - this.lastDraw < 100) return;
      this.drawLine(text, last);
    } else {
      const tenth = Math.floor((10 * done) / Math.max(1, total));
      if (!last && tenth === this.lastTenth) return;
      this.lastTenth = tenth;
      this.out.write(`${text}\n`);
    }
    this.shown = true;
    this.lastDraw = t;
  }

  protected describe(done: number, total: number): string {
    return describeCount(this.what, done, total, this.unit);
  }

  /** On a TTY: the line rewritten in place, ended with the last count. */
  protected drawLine(text: string, last: boolean): void {
    this.out.write(`\r${text}\x1b[K${last ? '\n' : ''}`);
  }
}

/** "downloading model.safetensors: 12% (120.5 of 988.1 MB)"; without a known total, the MB so far. */
export function describeBytes(what: string, done: number, total: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  if (!Number.isFinite(total) || total <= 0) return `${what}: ${mb(done)} MB`;
  return `${what}: ${Math.floor((100 * done) / total)}% (${mb(done)} of ${mb(total)} MB)`;
}

/**
 * Download progress of a model's files, fed by UrlSourceOptions.onProgress: per file, the bytes of
 * all its reads so far (ranged reads add up) out of its size, shown the way CountPrinter shows a
 * count (quiet for a quick file; in a file or pipe a line at each further 10 %). A file already
 * fetched whole is not shown again when read again. On a TTY there is one line, rewritten in place
 * for whichever file is arriving, and always ended with a newline (the cursor left below it and
 * moved up to redraw), because a download need not reach 100 % (not every tensor of a file is
 * read), and whatever the program prints next must not run into it. A file that reaches 100 %
 * keeps its line; the next file starts a new one.
 */
export class DownloadPrinter {
  private readonly files = new Map<string, { fetched: number; line: CountPrinter }>();
  /** Whether the TTY line above the cursor is ours to redraw. */
  private drawn = false;

  constructor(
    private readonly out: Out,
    private readonly quietMs = 1000,
    private readonly now: () => number = () => performance.now(),
    private readonly tty = out.isTTY === true,
  ) {}

  /** One read's progress: `loaded` of the `total` bytes it wants, of a file of `size` bytes where known. */
  update(file: string, loaded: number, total: number, size?: number): void {
    let f = this.files.get(file);
    if (!f) this.files.set(file, (f = { fetched: 0, line: this.line(file) }));
    const of = size ?? (total > 0 ? total : Infinity);
    if (f.fetched >= of) return;
    const done = Math.min(of, f.fetched + loaded);
    f.line.update(done, of);
    if (loaded >= total && total > 0) f.fetched += total; // this read is complete
  }

  private line(file: string): CountPrinter {
    return new DownloadLine((text, last) => this.redraw(text, last), this.out, `downloading ${file}`, 'bytes', this.quietMs, this.now, this.tty);
  }

  private redraw(text: string, last: boolean): void {
    const width = Math.max(20, (this.out.columns ?? 200) - 1); // a wrapped line would break the move up
    this.out.write(`${this.drawn ? '\x1b[1A\r' : ''}${text.slice(0, width)}\x1b[K\n`);
    this.drawn = !last;
  }
}

/** One file's line of a DownloadPrinter: a CountPrinter of bytes that the printer draws on a TTY. */
class DownloadLine extends CountPrinter {
  constructor(
    private readonly draw: (text: string, last: boolean) => void,
    ...args: ConstructorParameters<typeof CountPrinter>
  ) {
    super(...args);
  }

  protected override describe(done: number, total: number): string {
    return describeBytes(this.what, done, total);
  }

  protected override drawLine(text: string, last: boolean): void {
    this.draw(text, last);
  }
}
