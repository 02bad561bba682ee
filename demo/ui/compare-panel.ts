// The compare panel: one prompt answered by the base model and then by the fine-tuned one (the
// engine runs one job at a time), side by side, each streamed as it is generated. "Raw
// continuation" continues the text as it is instead of answering it as a training input.
import type { GenerateReply, LoraEngine } from '../../src/engine/types.js';
import { $, errorMessage, show } from './dom.js';
import type { Store } from './state.js';

const NO_ADAPTER = 'Train or import an adapter first; then the fine-tuned answer appears here.';
const STOP_REASONS: Record<GenerateReply['stopReason'], string> = {
  eos: 'ended by the model',
  length: 'reached max new tokens',
  'max-positions': "reached the model's context length",
};

export interface ComparePanel {
  /** Puts `prompt` in the prompt box unless the person has typed their own. */
  suggestPrompt(prompt: string): void;
}

export function initComparePanel(engine: LoraEngine, store: Store): ComparePanel {
  const prompt = $<HTMLTextAreaElement>('prompt');
  const button = $<HTMLButtonElement>('generate');
  const maxTokens = $<HTMLInputElement>('max-new-tokens');
  const temperature = $<HTMLInputElement>('temperature');
  const raw = $<HTMLInputElement>('raw-continuation');
  const problem = $('generate-error');
  const base = $('base-output');
  const tuned = $('output');
  const baseMeta = $('base-meta');
  const tunedMeta = $('output-meta');
  let edited = false;
  let running = false;

  prompt.addEventListener('input', () => (edited = true));

  /** The sampling settings, or a message naming the bad field. */
  function settings(): { maxNewTokens: number; temperature: number } | string {
    const n = Number(maxTokens.value);
    const t = Number(temperature.value);
    if (maxTokens.value.trim() === '' || !Number.isInteger(n) || n < 1) return `Max new tokens must be a whole number ≥ 1, got "${maxTokens.value}"`;
    if (temperature.value.trim() === '' || !Number.isFinite(t) || t < 0) return `Temperature must be a number ≥ 0 (0 = greedy), got "${temperature.value}"`;
    return { maxNewTokens: n, temperature: t };
  }

  /** Streams one answer into `el`; the reply's length and stop reason go into `meta`. */
  async function answer(el: HTMLElement, meta: HTMLElement, adapter: boolean, s: { maxNewTokens: number; temperature: number }): Promise<void> {
    showReasoning(el, undefined);
    show(el, 'running', '');
    meta.textContent = 'generating…';
    // Every piece arrives before the reply, whose text is the pieces joined.
    const r = await engine.generate(prompt.value, {
      ...s,
      mode: raw.checked ? 'text' : 'input',
      adapter,
      onText: (t) => el.append(t),
    });
    el.textContent = r.text;
    showReasoning(el, r.reasoning);
    meta.textContent = `${r.tokens} tokens · ${STOP_REASONS[r.stopReason]}`;
  }

  /** A non-empty reasoning block the model wrote before its answer, collapsed above `el` (an earlier one removed). */
  function showReasoning(el: HTMLElement, reasoning: string | undefined): void {
    const before = el.previousElementSibling;
    if (before?.classList.contains('reasoning')) before.remove();
    if (!reasoning) return;
    const details = document.createElement('details');
    details.className = 'reasoning';
    const summary = document.createElement('summary');
    summary.textContent = 'Reasoning';
    const text = document.createElement('pre');
    text.className = 'output';
    text.textContent = reasoning;
    details.append(summary, text);
    el.before(details);
  }

  button.addEventListener('click', async () => {
    const s = settings();
    problem.textContent = typeof s === 'string' ? s : '';
    if (typeof s === 'string' || store.state.job || !store.state.model) return;
    const withAdapter = store.state.adapter !== null;
    running = true;
    show(tuned, 'running', withAdapter ? 'Waiting for the base model…' : NO_ADAPTER);
    tunedMeta.textContent = '';
    let step: 'base' | 'tuned' = 'base';
    try {
      await store.run('generating', async () => {
        await answer(base, baseMeta, false, s);
        base.dataset.state = 'done';
        if (withAdapter) {
          step = 'tuned';
          await answer(tuned, tunedMeta, true, s);
        }
      });
      tuned.dataset.state = 'done';
    } catch (e) {
      const el = step === 'base' ? base : tuned;
      show(el, 'error', `Generation failed: ${errorMessage(e)}`);
      (step === 'base' ? baseMeta : tunedMeta).textContent = '';
      if (step === 'base') show(tuned, 'error', 'Not generated: the base model failed first.');
    } finally {
      running = false;
    }
  });

  let lastAdapter = store.state.adapter;
  store.subscribe((st) => {
    button.disabled = !st.model || st.job !== null;
    if (!running && st.adapter !== lastAdapter) {
      show(tuned, 'idle', st.adapter ? 'Generate to see the fine-tuned answer.' : NO_ADAPTER);
      tunedMeta.textContent = '';
    }
    lastAdapter = st.adapter;
  });
  show(tuned, 'idle', NO_ADAPTER);

  return {
    suggestPrompt(text: string) {
      if (!edited) prompt.value = text;
    },
  };
}
