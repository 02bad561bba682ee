// The hyperparameter panel: epochs, learning rate, LoRA rank / alpha / target modules, batch size,
// maximum length, validation split, seed and gradient checkpointing (a checkbox, which the memory
// estimate follows like every other setting), defaulting to DEFAULT_TRAINING_CONFIG. Each field is
// checked on its own with the trainer's validation, and a bad one gets an inline message naming it;
// the store holds the resulting TrainingConfigInput (null while any field is bad).
import { DEFAULT_TRAINING_CONFIG, resolveTrainingConfig, type TrainingConfigInput } from '../../src/train/config.js';
import { $, errorMessage } from './dom.js';
import type { Store } from './state.js';

interface Field {
  id: string;
  label: string;
  initial: number;
  /** The part of the config this field sets. */
  apply: (value: number) => TrainingConfigInput;
}

const D = DEFAULT_TRAINING_CONFIG;
const FIELDS: Field[] = [
  { id: 'epochs', label: 'Epochs', initial: D.epochs, apply: (v) => ({ epochs: v }) },
  { id: 'learning-rate', label: 'Learning rate', initial: D.learningRate, apply: (v) => ({ learningRate: v }) },
  { id: 'rank', label: 'Rank', initial: D.lora.r, apply: (v) => ({ lora: { r: v } }) },
  { id: 'alpha', label: 'Alpha', initial: D.lora.alpha, apply: (v) => ({ lora: { alpha: v } }) },
  { id: 'batch-size', label: 'Batch size', initial: D.batchSize, apply: (v) => ({ batchSize: v }) },
  { id: 'max-length', label: 'Max length', initial: D.maxLength, apply: (v) => ({ maxLength: v }) },
  { id: 'val-split', label: 'Validation split', initial: D.valSplit, apply: (v) => ({ valSplit: v }) },
  { id: 'seed', label: 'Seed', initial: D.seed, apply: (v) => ({ seed: v }) },
];

/** The attention projections' names: Llama-family q/k/v/o, GPT-2's fused c_attn (its c_proj is also an MLP name). */
const ATTENTION = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'c_attn'];
const DEFAULT_ATTENTION = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

/** Why `text` is not a valid value of `field`, or the config part it gives. */
function parseField(field: Field, text: string): { part: TrainingConfigInput } | { error: string } {
  const s = text.trim();
  if (s === '') return { error: `${field.label} is required` };
  const value = Number(s);
  if (Number.isNaN(value)) return { error: `${field.label} must be a number (such as ${field.initial}), got "${s}"` };
  const part = field.apply(value);
  try {
    resolveTrainingConfig(part);
  } catch (e) {
    // "training config: lora.r (the rank) must be …" → "Rank must be …"
    const why = errorMessage(e).replace(/^training config: \S+ (\(the rank\) )?/, '');
    return { error: `${field.label} ${why}` };
  }
  return { part };
}

function merge(a: TrainingConfigInput, b: TrainingConfigInput): TrainingConfigInput {
  return { ...a, ...b, lora: { ...a.lora, ...b.lora } };
}

export function initSettingsPanel(store: Store): void {
  const targets = $<HTMLSelectElement>('targets');
  const checkpointing = $<HTMLInputElement>('gradient-checkpointing');
  checkpointing.checked = D.gradientCheckpointing;
  const targetsHint = $('targets-hint');
  const maxLengthHint = $('max-length-hint');
  const inputs = FIELDS.map((f) => {
    const el = $<HTMLInputElement>(f.id);
    el.value = f.id === 'learning-rate' ? f.initial.toExponential() : String(f.initial);
    return { field: f, el, message: $(`${f.id}-error`) };
  });

  function attentionNames(): string[] {
    const names = store.state.model?.targetModules;
    return names ? names.filter((n) => ATTENTION.includes(n)) : DEFAULT_ATTENTION;
  }

  function update(): void {
    let config: TrainingConfigInput | null = {};
    for (const { field, el, message } of inputs) {
      const r = parseField(field, el.value);
      const bad = 'error' in r;
      message.textContent = bad ? r.error : '';
      el.setAttribute('aria-invalid', String(bad));
      if ('error' in r) config = null;
      else if (config) config = merge(config, r.part);
    }
    if (config) {
      config.lora = { ...config.lora, targetModules: targets.value === 'attention' ? attentionNames() : 'all-linear' };
      config.gradientCheckpointing = checkpointing.checked;
    }
    store.set({ config });
  }

  function showModelHints(): void {
    const m = store.state.model;
    const modules = m?.targetModules ?? [...DEFAULT_ATTENTION, 'gate_proj', 'up_proj', 'down_proj'];
    targetsHint.textContent = targets.value === 'attention' ? attentionNames().join(', ') : `every linear layer: ${modules.join(', ')}`;
    const maxLength = Number($<HTMLInputElement>('max-length').value);
    maxLengthHint.textContent = m && maxLength > m.maxPositions ? `this model reads at most ${m.maxPositions} tokens; longer examples are cut there` : '';
  }

  for (const { el } of inputs) el.addEventListener('input', () => (update(), showModelHints()));
  targets.addEventListener('change', () => (update(), showModelHints()));
  checkpointing.addEventListener('change', update);

  let lastModel = store.state.model;
  store.subscribe((s) => {
    // A new model may name its attention modules differently.
    if (s.model !== lastModel) {
      lastModel = s.model;
      showModelHints();
      if (targets.value === 'attention') update();
    }
  });
  update();
  showModelHints();
}
