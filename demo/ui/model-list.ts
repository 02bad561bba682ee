// The list of models to start from (./model-catalog.ts): each with the size of its weights, the GPU
// memory training it would take with the current settings (worked out from its config.json on
// this page: nothing is downloaded), and whether it is gated. Choosing one puts its id in the
// model field; Load downloads it.
import { parseModelConfig, type ModelSpec } from '../../src/model/config.js';
import type { WeightStorage } from '../../src/model/gpu-weights.js';
import { resolveTrainingConfig, type TrainingConfigInput } from '../../src/train/config.js';
import { estimateTrainingMemory } from '../../src/train/memory.js';
import { $, debounce, errorMessage } from './dom.js';
import { CATALOG, downloadSize, type CatalogModel } from './model-catalog.js';
import type { Store } from './state.js';
import { memorySize } from './weights-choice.js';

export { memorySize };

/** A catalogue model's spec, or why this build cannot read its config. */
export function specOf(m: CatalogModel): ModelSpec | string {
  try {
    return parseModelConfig(m.config, `${m.id}/config.json`);
  } catch (e) {
    return errorMessage(e);
  }
}

/**
 * The memory line of one model: the estimate for the settings (batches of batchSize × maxLength
 * tokens, up to the model's positions; its weights stored as `weights`: f32, f16, q8 or nf4, or
 * true for f16 and false for f32), and, when the settings do not use both savers, the total with
 * f16 weights (or the quantized format chosen) and gradient checkpointing.
 */
export function memoryLine(spec: ModelSpec | string, config: TrainingConfigInput | null, weights: WeightStorage | boolean): string {
  const storage: WeightStorage = weights === true ? 'f16' : weights === false ? 'f32' : weights;
  if (typeof spec === 'string') return `memory estimate: this build cannot read its config yet (${spec})`;
  if (config === null) return 'memory estimate: fix the training settings to see it';
  try {
    const c = resolveTrainingConfig(config);
    const T = Math.min(c.maxLength, spec.maxPositions);
    const total = (weightStorage: WeightStorage, gradientCheckpointing: boolean) =>
      estimateTrainingMemory(spec, c.lora, c.batchSize, T, { weightStorage, gradientCheckpointing }).total;
    const now = total(storage, c.gradientCheckpointing);
    const saver = storage === 'f32' ? 'f16' : storage;
    const savers = storage !== 'f32' && c.gradientCheckpointing ? '' : `; ${memorySize(total(saver, true))} with ${saver} weights and gradient checkpointing`;
    return `training: ≈ ${memorySize(now)} of GPU memory (batches of ${c.batchSize} × ${T} tokens, ${storage} weights${c.gradientCheckpointing ? ', gradient checkpointing' : ''})${savers}`;
  } catch (e) {
    return `memory estimate: ${errorMessage(e)}`;
  }
}

/**
 * Renders the list into #model-list and keeps its memory lines in step with the settings and the
 * weights format (`weights()`, which fires 'weights-change' on #model-weights when it changes).
 * `onChoose` hears of each choice (also of the model field's value on start), with the model's
 * spec or why there is none (null for a model outside the list).
 */
export function initModelList(store: Store, weights: () => WeightStorage, onChoose: (m: CatalogModel | null, spec: ModelSpec | string | null) => void): void {
  const list = $('model-list');
  const source = $<HTMLInputElement>('model-source');
  const select = $<HTMLSelectElement>('model-weights');
  const rows = CATALOG.map((m) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'model-choice';
    button.dataset.testid = 'model-choice';
    button.dataset.modelId = m.id;
    const name = document.createElement('span');
    name.className = 'model-name';
    name.textContent = m.label;
    const note = document.createElement('span');
    note.className = 'model-note muted';
    note.textContent = m.note;
    const size = document.createElement('span');
    size.className = 'model-size';
    size.dataset.testid = 'model-size';
    size.textContent = `${downloadSize(m.downloadBytes)} download`;
    const memory = document.createElement('span');
    memory.className = 'model-memory small';
    memory.dataset.testid = 'model-memory';
    button.append(name, note, size);
    if (m.gated) {
      const gated = document.createElement('span');
      gated.className = 'badge model-gated';
      gated.dataset.testid = 'model-gated';
      gated.textContent = 'gated: needs a Hugging Face token';
      button.append(gated);
    }
    button.append(memory);
    button.addEventListener('click', () => {
      source.value = m.id;
      mark();
    });
    li.append(button);
    list.append(li);
    return { m, spec: specOf(m), button, memory };
  });

  const mark = () => {
    const chosen = rows.find((r) => r.m.id === source.value.trim()) ?? null;
    for (const r of rows) r.button.setAttribute('aria-pressed', String(r === chosen));
    onChoose(chosen?.m ?? null, chosen?.spec ?? null);
  };
  // Six estimates take some tens of milliseconds on a slow machine: once typing in the settings pauses.
  const estimateNow = () => {
    for (const r of rows) r.memory.textContent = memoryLine(r.spec, store.state.config, weights());
  };
  const estimate = debounce(estimateNow, 300);
  source.addEventListener('input', mark);
  select.addEventListener('weights-change', estimate);
  let config: TrainingConfigInput | null | undefined;
  store.subscribe((s) => {
    if (s.config === config) return;
    // The first settings (and a change to or from invalid ones) show at once; edits after a pause.
    const first = !config || !s.config;
    config = s.config;
    if (first) estimateNow();
    else estimate();
  });
  mark();
}
