// The model panel: a Hugging Face id or a model folder's URL (typed, or chosen from the list of
// ./model-list.ts), or a folder picked on this computer, loaded by the engine with a progress bar;
// then the model's shape, size and GPU memory in the status line. Gated models download with the
// access token of ./hub-token.ts, given to each load.
import type { LoadModelProgress, LoraEngine, ModelInfo, ModelInput } from '../../src/engine/types.js';
import { $, count, errorMessage, mib, show } from './dom.js';
import type { HubToken } from './hub-token.js';
import { initModelList } from './model-list.js';
import type { Store } from './state.js';

type DirectoryPicker = () => Promise<FileSystemDirectoryHandle>;

/** The status line of a loaded model (tests match its first part). */
export function describeModel(m: ModelInfo): string {
  return (
    `${m.modelType}: ${m.layers} layers, width ${m.width}, ${m.heads} heads (${m.kvHeads} kv), vocabulary ${m.vocabulary}` +
    ` · ${count(m.parameters)} parameters · ${mib(m.gpuBytes)} MiB on the GPU${m.weightStorage === 'f16' ? ' (f16 weights)' : ''}` +
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
  const f16 = $<HTMLInputElement>('model-f16');
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

  initModelList(store, (m) => token.chose(m));

  async function load(input: ModelInput, label: string): Promise<void> {
    show(status, 'loading', `Loading ${label}…`);
    progress.value = 0;
    progressText.textContent = '';
    // The engine frees the old model (and its adapter) while it loads the new one.
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
          { weightStorage: f16.checked ? 'f16' : 'f32', ...(hfToken ? { hfToken } : {}) },
        ),
      );
      progress.value = progress.max;
      progressText.textContent = `Loaded ${info.description}.`;
      show(status, 'ready', describeModel(info));
      store.set({ model: info });
    } catch (e) {
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
    void load(id, id);
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
    f16.disabled = blocked;
    pickButton.disabled = blocked;
    folderInput.disabled = blocked;
    folderLabel.classList.toggle('disabled', blocked);
    progress.hidden = s.job !== 'loading' && progress.value === 0;
  });
}
