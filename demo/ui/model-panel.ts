// The model panel: a Hugging Face id or a model folder's URL (typed, or chosen from the list of
// ./model-list.ts), or a folder picked on this computer, loaded by the engine with a progress bar;
// then the model's shape, size, GPU memory and weights format in the status line. The load stores
// the weights in the format of ./weights-panel.ts (chosen before loading; a new choice applies at
// the next load). Gated models download with the access token of ./hub-token.ts, given to each load.
import type { LoadModelProgress, LoraEngine, ModelInfo, ModelInput } from '../../src/engine/types.js';
import type { ModelSpec } from '../../src/model/config.js';
import { $, count, errorMessage, mib, show } from './dom.js';
import type { HubToken } from './hub-token.js';
import { readModelSpec } from './model-config.js';
import type { CatalogModel } from './model-catalog.js';
import { initModelList } from './model-list.js';
import type { Store } from './state.js';
import { initWeightsControl, type WeightsSubject } from './weights-panel.js';

type DirectoryPicker = () => Promise<FileSystemDirectoryHandle>;

/** The status line of a loaded model (tests match its first part). */
export function describeModel(m: ModelInfo): string {
  return (
    `${m.modelType}: ${m.layers} layers, width ${m.width}, ${m.heads} heads (${m.kvHeads} kv), vocabulary ${m.vocabulary}` +
    ` · ${count(m.parameters)} parameters · ${mib(m.gpuBytes)} MiB on the GPU (${m.weightStorage} weights)` +
    (m.chatTemplate ? ' · chat template' : ' · no chat template (plain prompt format)')
  );
}

/** The progress line: "Downloading model.safetensors: 12.3 / 270.0 MiB". */
function describeProgress(p: LoadModelProgress): string {
  if (p.phase === 'download') {
    return p.total > 0 ? `Downloading ${p.item}: ${mib(p.done)} / ${mib(p.total)} MiB` : `Downloading ${p.item}: ${mib(p.done)} MiB`;
  }
  return `Uploading weights to the GPU: ${p.done} / ${p.total} tensors (${p.item})`;
}

export function initModelPanel(engine: LoraEngine, store: Store, token: HubToken): void {
  const source = $<HTMLInputElement>('model-source');
  const loadButton = $<HTMLButtonElement>('load-model');
  const folderInput = $<HTMLInputElement>('model-folder');
  const folderLabel = $<HTMLLabelElement>('model-folder-label');
  const pickButton = $<HTMLButtonElement>('pick-folder');
  const progress = $<HTMLProgressElement>('load-progress');
  const progressText = $('load-progress-text');
  const status = $('model-status');

  const picker = (window as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  // Where the browser can open a folder directly, that replaces the upload-style folder input.
  pickButton.hidden = picker === undefined;
  folderLabel.hidden = picker !== undefined;

  const weights = initWeightsControl(store);
  // The model the weights estimates are for: the model field's (a model of the list, or the one
  // loaded from that field), or a model loaded from a folder until the field changes.
  let loaded: WeightsSubject | null = null;
  let chosen: { m: CatalogModel | null; spec: ModelSpec | string | null } = { m: null, spec: null };
  const fieldSubject = (): WeightsSubject | null => {
    const id = source.value.trim();
    if (loaded && loaded.key === id) return loaded;
    if (chosen.m) return { key: chosen.m.id, label: chosen.m.label, spec: chosen.spec, loaded: false };
    return id ? { key: id, label: id, spec: null, loaded: false } : null;
  };
  initModelList(store, () => weights.value(), (m, spec) => {
    token.chose(m);
    chosen = { m, spec };
    weights.setSubject(fieldSubject());
  });

  async function load(input: ModelInput, label: string): Promise<void> {
    show(status, 'loading', `Loading ${label}…`);
    progress.value = 0;
    progressText.textContent = '';
    // The engine frees the old model (and its adapter) while it loads the new one.
    loaded = null;
    store.set({ model: null, adapter: null });
    try {
      const hfToken = token.value();
      // The engine delivers every progress report before its reply.
      const info = await store.run('loading', () =>
        engine.loadModel(
          input,
          (p) => {
            progress.max = Math.max(p.total, 1);
            progress.value = p.done;
            progressText.textContent = describeProgress(p);
          },
          { weightStorage: weights.value(), ...(hfToken ? { hfToken } : {}) },
        ),
      );
      progress.value = progress.max;
      progressText.textContent = `Loaded ${info.description}.`;
      show(status, 'ready', describeModel(info));
      const key = label; // what the field says (for an id or URL), or the picked folder's name
      const fromList = chosen.m?.id === key && typeof chosen.spec === 'object' ? chosen.spec : null;
      loaded = { key, label, spec: fromList, loaded: true };
      store.set({ model: info });
      weights.setSubject(typeof input === 'string' ? fieldSubject() : loaded);
      if (!fromList) {
        // Outside the list: its config.json (from the cache the load filled) gives the estimates.
        const mine = loaded;
        const spec = await readModelSpec(input, hfToken ?? null).catch((e: unknown) => `its config.json could not be read here (${errorMessage(e)})`);
        if (loaded !== mine) return;
        loaded = { ...mine, spec };
        weights.setSubject(typeof input === 'string' ? fieldSubject() : loaded);
      }
    } catch (e) {
      // Nothing was loaded: no bar that looks full or half full.
      progress.value = 0;
      progress.hidden = true;
      progressText.textContent = '';
      show(status, 'error', `Could not load ${label}: ${errorMessage(e)}`);
      token.explain(errorMessage(e), label);
    }
  }

  loadButton.addEventListener('click', () => {
    const id = source.value.trim();
    if (!id) {
      show(status, 'error', 'Enter a Hugging Face id (owner/name) or the URL of a model folder, or pick a folder.');
      return;
    }
    // A path relative to this page (./x/, ../x/) is made absolute here: the engine's worker would resolve it against its own script.
    void load(/^\.\.?\//.test(id) ? new URL(id, document.baseURI).href : id, id);
  });
  source.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !loadButton.disabled) loadButton.click();
  });

  folderInput.addEventListener('change', () => {
    const files = Array.from(folderInput.files ?? []);
    folderInput.value = '';
    if (files.length === 0) return;
    const top = files[0].webkitRelativePath.split('/')[0] || 'the picked folder';
    void load(files, top);
  });

  pickButton.addEventListener('click', async () => {
    if (!picker) return;
    let handle: FileSystemDirectoryHandle;
    try {
      handle = await picker.call(window);
    } catch {
      return; // the person closed the picker
    }
    void load(handle, handle.name);
  });

  store.subscribe((s) => {
    const blocked = s.gpuOk === false || s.job !== null;
    loadButton.disabled = blocked;
    pickButton.disabled = blocked;
    folderInput.disabled = blocked;
    folderLabel.classList.toggle('disabled', blocked);
    progress.hidden = s.job !== 'loading' && progress.value === 0;
    // The model went away without a new load: the GPU device was lost (./train-panel.ts).
    if (!s.model && loaded && s.job === null) {
      loaded = null;
      progress.value = 0;
      progress.hidden = true;
      progressText.textContent = '';
      show(status, 'error', 'The GPU device was lost, and the model with it: load it again (a training run resumes from its last checkpoint).');
    }
  });
}
