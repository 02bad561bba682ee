// The weights format of the model panel: how the model's frozen matrices are stored on the GPU
// (f32, f16, q8 or nf4: LoadModelOptions.weightStorage), each format labelled with the training
// memory it takes for the chosen model with the current settings and whether that fits this GPU,
// an optional "GPU memory to use" budget, and the proposal of ./weights-choice.ts: when the
// preferred format does not fit, the most precise one that does is selected, with a sentence
// saying why. The person can still choose any format; their choice is then kept (with a warning
// when it does not fit) until the model or the budget changes. A format applies when a model is
// loaded: after a change, Load loads the model again with it.
import type { ModelSpec } from '../../src/model/config.js';
import type { WeightStorage } from '../../src/model/gpu-weights.js';
import type { TrainingConfigInput } from '../../src/train/config.js';
import { $, debounce, errorMessage, show } from './dom.js';
import type { AppState, Store } from './state.js';
import {
  DEFAULT_WEIGHTS,
  estimateFormats,
  formatOptionLabel,
  memorySize,
  parseBudget,
  proposeWeights,
  WEIGHT_FORMATS,
  type FormatEstimates,
} from './weights-choice.js';

/** The model the estimates are for. */
export interface WeightsSubject {
  /** What identifies it (the model field's value, or the picked folder's name). */
  key: string;
  label: string;
  /** Its spec, why there is none (a string), or null when unknown until it is loaded. */
  spec: ModelSpec | string | null;
  /** Whether it is the model loaded now. */
  loaded: boolean;
}

export interface WeightsControl {
  /** The selected format (what the next load uses). */
  value(): WeightStorage;
  /** The model the estimates are for; a different key lets the proposal choose again. */
  setSubject(s: WeightsSubject | null): void;
}

export function initWeightsControl(store: Store): WeightsControl {
  const select = $<HTMLSelectElement>('model-weights');
  const budgetInput = $<HTMLInputElement>('gpu-memory');
  const budgetError = $('gpu-memory-error');
  const basis = $('weights-basis');
  const note = $('weights-note');

  select.replaceChildren(
    ...WEIGHT_FORMATS.map((f) => {
      const o = document.createElement('option');
      o.value = f;
      o.dataset.testid = `weights-${f}`;
      o.textContent = formatOptionLabel(null, f);
      return o;
    }),
  );
  select.value = DEFAULT_WEIGHTS;

  let preferred: WeightStorage = DEFAULT_WEIGHTS;
  let userChose = false;
  let subject: WeightsSubject | null = null;
  let budget: number | null = null;

  const changed = () => select.dispatchEvent(new CustomEvent('weights-change'));

  function estimates(config: TrainingConfigInput | null): { estimates: FormatEstimates | null; problem: string } {
    if (!subject) return { estimates: null, problem: 'Estimates per format appear for a model of the list, or once a model is loaded.' };
    if (subject.spec === null) return { estimates: null, problem: `Estimates per format for ${subject.label} appear once it is loaded.` };
    if (typeof subject.spec === 'string') return { estimates: null, problem: `No estimate for ${subject.label}: ${subject.spec}` };
    if (!config) return { estimates: null, problem: 'Fix the training settings to see the estimates per format.' };
    try {
      return { estimates: estimateFormats(subject.spec, config, store.state.gpuLimits, budget), problem: '' };
    } catch (e) {
      return { estimates: null, problem: `No estimate for ${subject.label}: ${errorMessage(e)}` };
    }
  }

  function refresh(): void {
    const s = store.state;
    const r = estimates(s.config);
    for (const o of Array.from(select.options)) {
      const f = o.value as WeightStorage;
      const e = r.estimates?.[f] ?? null;
      o.textContent = formatOptionLabel(e, f);
      o.dataset.totalBytes = e ? String(e.total) : '';
      o.dataset.fits = e?.fits === null || !e ? '' : String(e.fits);
    }
    const spec = subject && typeof subject.spec === 'object' ? subject.spec : null;
    basis.textContent = r.estimates && spec && s.config
      ? `Training memory for ${subject!.label}, batches of ${s.config.batchSize ?? '?'} × ${Math.min(s.config.maxLength ?? Infinity, spec.maxPositions)} tokens` +
        (s.gpuLimits ? `; fits: every buffer within this GPU's ${memorySize(Math.min(s.gpuLimits.maxBufferSize, s.gpuLimits.maxStorageBufferBindingSize))}${budget === null ? '' : `, and the total within ${memorySize(budget)}`}.` : '.')
      : r.problem;

    const choice = proposeWeights(preferred, r.estimates, userChose);
    if (select.value !== choice.format) {
      select.value = choice.format;
      changed();
    }
    const model = s.model;
    const reload = model && subject?.loaded && model.weightStorage !== select.value
      ? `The model on the GPU has ${model.weightStorage} weights: load it again to use ${select.value}.`
      : '';
    const text = [choice.message, reload].filter(Boolean).join(' ');
    show(note, choice.state === 'warning' ? 'warning' : choice.state === 'proposed' ? 'proposed' : reload ? 'info' : 'idle', text);
  }
  const refreshSoon = debounce(refresh, 300);

  select.addEventListener('change', () => {
    preferred = select.value as WeightStorage;
    userChose = true;
    refresh();
    changed();
  });
  budgetInput.addEventListener('input', () => {
    try {
      budget = parseBudget(budgetInput.value);
      budgetError.textContent = '';
      budgetInput.setAttribute('aria-invalid', 'false');
    } catch (e) {
      budget = null;
      budgetError.textContent = errorMessage(e);
      budgetInput.setAttribute('aria-invalid', 'true');
    }
    userChose = false; // what the person says of their GPU lets the proposal choose again
    refresh();
  });

  let seen: Pick<AppState, 'config' | 'gpuLimits' | 'model'> | null = null;
  store.subscribe((s) => {
    const blocked = s.gpuOk === false || s.job !== null;
    select.disabled = blocked;
    budgetInput.disabled = blocked;
    if (seen && seen.config === s.config && seen.gpuLimits === s.gpuLimits && seen.model === s.model) return;
    const onlySettings = seen !== null && seen.gpuLimits === s.gpuLimits && seen.model === s.model && !!seen.config && !!s.config;
    seen = { config: s.config, gpuLimits: s.gpuLimits, model: s.model };
    // Edits of the settings refresh after a pause in typing; the rest at once.
    if (onlySettings) refreshSoon();
    else refresh();
  });

  return {
    value: () => select.value as WeightStorage,
    setSubject(next) {
      if (next?.key !== subject?.key) userChose = false;
      subject = next;
      refresh();
    },
  };
}
