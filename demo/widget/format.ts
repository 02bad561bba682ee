// Names and numbers as the <lora-trainer> element shows them, and the model attribute as the
// engine's worker must receive it.

/** A Hugging Face id (owner/name), as the engine recognizes one. */
const HF_ID = /^[\w.-]+\/[\w.-]+$/;

/**
 * The model attribute as the worker must receive it: URLs and Hugging Face ids unchanged, a path
 * on this site resolved against the page (the worker's own base URL is a blob: URL, against which
 * '/models/x/' does not resolve).
 */
export function resolveModel(model: string, base: string): string {
  const s = model.trim();
  if (/^https?:\/\//i.test(s) || (HF_ID.test(s) && !/^[./]/.test(s))) return s;
  return new URL(s, base).href;
}

/** The short name a model is shown by: the id, or the last folder of its URL. */
export function modelLabel(model: string): string {
  const s = model.trim();
  if (HF_ID.test(s) && !/^[./]/.test(s)) return s;
  return s.split(/[?#]/)[0].split('/').filter(Boolean).pop() ?? s;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  const pad = (x: number) => String(x).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export const formatBytes = (n: number) => (n < 1 << 20 ? `${(n / 1024).toFixed(0)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`);
