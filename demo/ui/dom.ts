// Small DOM and formatting helpers shared by the demo's panels: element lookup, number and time
// formatting, error text, debouncing and cell truncation.

/** The element with this id; a missing one is a bug in index.html, so it throws. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: index.html has no element #${id}`);
  return el as T;
}

/** Bytes as MiB with one decimal: 12.3. */
export function mib(bytes: number, digits = 1): string {
  return (bytes / 2 ** 20).toFixed(digits);
}

/** A parameter count: 134.5M, 260.1K, 812. */
export function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** Milliseconds as m:ss (or h:mm:ss). */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A loss with four significant digits. */
export function loss(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toPrecision(4);
}

/** The message of anything thrown (errors from the worker arrive as Errors). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `fn` called once, `ms` after the last of a burst of calls. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): (...args: A) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (...args: A) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** At most `n` characters, with an ellipsis when cut. */
export function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Sets an element's state attribute and text together. */
export function show(el: HTMLElement, state: string, text: string): void {
  el.dataset.state = state;
  el.textContent = text;
}
