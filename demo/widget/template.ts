// The <lora-trainer> element's shadow DOM: its styles and its markup (no <style> element: the
// styles go in a constructed stylesheet, so that pages with a strict Content-Security-Policy can
// embed it). Every element a page may
// want to restyle has a `part` (style it with lora-trainer::part(train) { ... }), and the ones
// tests drive have a data-testid. Colours come from custom properties that inherit through the
// shadow boundary (--lora-trainer-accent, --lora-trainer-bg, --lora-trainer-fg, --lora-trainer-muted).

export const STYLES = `
:host {
  display: inline-block;
  box-sizing: border-box;
  width: 22rem;
  max-width: 100%;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--lora-trainer-fg, #1d2330);
  --accent: var(--lora-trainer-accent, #3b6fd8);
  --muted: var(--lora-trainer-muted, #667085);
}
:host([hidden]) { display: none; }
.card {
  border: 1px solid #d0d5dd;
  border-radius: 10px;
  padding: 10px 12px;
  background: var(--lora-trainer-bg, #fff);
  display: grid;
  gap: 8px;
}
.head { display: flex; align-items: baseline; justify-content: space-between; gap: 8px; }
.model { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.badge { color: var(--muted); font-size: 11px; white-space: nowrap; }
.buttons { display: flex; flex-wrap: wrap; gap: 6px; }
button {
  font: inherit;
  padding: 3px 10px;
  border-radius: 6px;
  border: 1px solid #c5cad3;
  background: #f6f7f9;
  color: inherit;
  cursor: pointer;
}
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: 0.45; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.progress { height: 6px; border-radius: 3px; background: #e9ecf1; overflow: hidden; }
.bar { height: 100%; width: 0%; background: var(--accent); transition: width 0.2s; }
.metrics { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
.line { font-variant-numeric: tabular-nums; color: var(--muted); font-size: 12px; min-height: 1.4em; }
canvas { width: 96px; height: 24px; flex: none; }
.status { font-size: 12px; overflow-wrap: anywhere; }
.status[data-state="error"] { color: #c0262d; }
.status[data-state="done"] { color: #1f7a3f; }
.download { font-size: 12px; color: var(--accent); }
.download[hidden] { display: none; }
`;

/** The markup; the styles are adopted as a constructed stylesheet (lora-trainer.ts), which a strict CSP without 'unsafe-inline' allows. */
export const TEMPLATE = `
<div class="card" part="card">
  <div class="head">
    <span class="model" part="model" data-testid="model"></span>
    <span class="badge" part="badge">LoRA · WebGPU</span>
  </div>
  <div class="buttons" part="buttons">
    <button class="primary" part="button train" data-testid="train">Train</button>
    <button part="button pause" data-testid="pause" disabled>Pause</button>
    <button part="button stop" data-testid="stop" disabled>Stop</button>
    <button part="button export" data-testid="export" disabled>Export</button>
  </div>
  <div class="progress" part="progress" data-testid="progress" role="progressbar" aria-valuemin="0" aria-valuemax="1" aria-valuenow="0">
    <div class="bar" part="progress-bar"></div>
  </div>
  <div class="metrics">
    <span class="line" part="metrics" data-testid="metrics"></span>
    <canvas part="sparkline" data-testid="sparkline" width="96" height="24" aria-label="loss per step"></canvas>
  </div>
  <div class="status" part="status" data-testid="status" data-state="idle" role="status" aria-live="polite"></div>
  <a class="download" part="download" data-testid="download" hidden>Download adapter (.zip)</a>
</div>
`;

/** Draws `values` as a line scaled to the canvas, lowest at the bottom. */
export function drawSparkline(canvas: HTMLCanvasElement, values: number[], color: string): void {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr) || canvas.width;
  const h = Math.round(canvas.clientHeight * dpr) || canvas.height;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const g = canvas.getContext('2d');
  if (!g) return;
  g.clearRect(0, 0, w, h);
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const pad = 2 * dpr;
  const x = (i: number) => pad + (i / (values.length - 1)) * (w - 2 * pad);
  const y = (v: number) => h - pad - (hi === lo ? 0.5 : (v - lo) / (hi - lo)) * (h - 2 * pad);
  g.strokeStyle = color;
  g.lineWidth = 1.5 * dpr;
  g.lineJoin = 'round';
  g.beginPath();
  let started = false;
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    if (started) g.lineTo(x(i), y(v));
    else g.moveTo(x(i), y(v));
    started = true;
  });
  g.stroke();
}
