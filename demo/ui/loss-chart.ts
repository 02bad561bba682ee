// The live loss chart: training loss per step as a line, validation loss as points, on a canvas
// with labelled axes. Adding points only marks the chart dirty; it is redrawn at most once per
// animation frame, so a fast stream of steps never blocks the page.

interface Point {
  step: number;
  loss: number;
}

/** About `n` round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export class LossChart {
  private train: Point[] = [];
  private validation: Point[] = [];
  private totalSteps = 0;
  private frame = 0;

  constructor(private readonly canvas: HTMLCanvasElement) {
    new ResizeObserver(() => this.schedule()).observe(canvas);
    this.schedule();
  }

  reset(totalSteps: number): void {
    this.train = [];
    this.validation = [];
    this.totalSteps = totalSteps;
    this.schedule();
  }

  addStep(step: number, loss: number): void {
    this.train.push({ step, loss });
    this.schedule();
  }

  addEval(step: number, loss: number): void {
    this.validation.push({ step, loss });
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (w === 0 || h === 0) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    if (!g) return;
    const css = getComputedStyle(c);
    const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
    const axis = color('--chart-axis', '#888');
    const text = color('--muted', '#666');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = '11px system-ui, sans-serif';
    c.dataset.points = String(this.train.length);
    c.dataset.evals = String(this.validation.length);

    const all = [...this.train, ...this.validation].filter((p) => Number.isFinite(p.loss));
    if (all.length === 0) {
      g.fillStyle = text;
      g.textAlign = 'center';
      g.fillText('The loss appears here while training runs.', w / 2, h / 2);
      return;
    }
    const pad = { left: 44, right: 12, top: 26, bottom: 28 };
    const xMax = Math.max(this.totalSteps, ...all.map((p) => p.step), 1);
    let yLo = Math.min(...all.map((p) => p.loss));
    let yHi = Math.max(...all.map((p) => p.loss));
    const margin = (yHi - yLo) * 0.08 || Math.abs(yHi) * 0.1 || 1;
    yLo = Math.max(0, yLo - margin);
    yHi += margin;
    const x = (step: number) => pad.left + (step / xMax) * (w - pad.left - pad.right);
    const y = (v: number) => pad.top + (1 - (v - yLo) / (yHi - yLo)) * (h - pad.top - pad.bottom);

    // Axes, grid lines and labels.
    g.strokeStyle = axis;
    g.fillStyle = text;
    g.lineWidth = 1;
    g.globalAlpha = 0.35;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const v of ticks(yLo, yHi, 4)) {
      g.beginPath();
      g.moveTo(pad.left, y(v));
      g.lineTo(w - pad.right, y(v));
      g.stroke();
      g.globalAlpha = 1;
      g.fillText(String(v), pad.left - 6, y(v));
      g.globalAlpha = 0.35;
    }
    g.globalAlpha = 1;
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (const s of ticks(0, xMax, 5).filter((s) => Number.isInteger(s))) g.fillText(String(s), x(s), h - pad.bottom + 6);
    g.textAlign = 'right';
    g.fillText('step', w - pad.right, h - 12);
    g.beginPath();
    g.moveTo(pad.left, pad.top);
    g.lineTo(pad.left, h - pad.bottom);
    g.lineTo(w - pad.right, h - pad.bottom);
    g.stroke();

    // Training loss: a line through every step (a dot when there is only one).
    g.strokeStyle = g.fillStyle = color('--chart-train', '#2563eb');
    g.lineWidth = 2;
    g.beginPath();
    this.train.forEach((p, i) => (i === 0 ? g.moveTo(x(p.step), y(p.loss)) : g.lineTo(x(p.step), y(p.loss))));
    g.stroke();
    if (this.train.length === 1) this.dot(g, x(this.train[0].step), y(this.train[0].loss), 3);

    // Validation loss: points.
    g.fillStyle = color('--chart-val', '#ea580c');
    for (const p of this.validation) this.dot(g, x(p.step), y(p.loss), 4);

    // Legend.
    g.textAlign = 'left';
    g.textBaseline = 'middle';
    const legend: Array<[string, string]> = [[color('--chart-train', '#2563eb'), 'training loss']];
    if (this.validation.length) legend.push([color('--chart-val', '#ea580c'), 'validation loss']);
    let lx = pad.left + 10;
    for (const [fill, label] of legend) {
      g.fillStyle = fill;
      this.dot(g, lx, 12, 4);
      g.fillStyle = text;
      g.fillText(label, lx + 8, 12);
      lx += g.measureText(label).width + 28;
    }
  }

  private dot(g: CanvasRenderingContext2D, cx: number, cy: number, r: number): void {
    g.beginPath();
    g.arc(cx, cy, r, 0, 2 * Math.PI);
    g.fill();
  }
}
