// The export panel: download the adapter as a PEFT folder (adapter.zip, f32 or f16), the "train
// this on a GPU server with TRL" folder (webgpu-lora-trl.zip), or the merged model
// (merged-model.zip), or either as GGUF (./gguf-export.ts); and import a PEFT adapter from a zip
// or from its two files.
import { unzipFiles } from '../../src/io/zip.js';
import type { Files, LoraEngine } from '../../src/engine/types.js';
import { $, errorMessage, mib, show } from './dom.js';
import { downloadZip } from './download.js';
import { initGgufExport, type Exporting } from './gguf-export.js';
import type { Store } from './state.js';
import { describeAdapter } from './train-panel.js';

const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'];
/** A merged model is written in f32 and zipped in memory; past this it is too large for a tab. */
const MAX_MERGED_BYTES = 2 ** 31;

/** The picked files as PEFT file names → bytes; zips are opened and their folders dropped. */
async function readAdapterFiles(picked: File[]): Promise<Files> {
  const files: Files = {};
  for (const f of picked) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    const entries = /\.zip$/i.test(f.name) ? await unzipFiles(bytes, { name: f.name }) : { [f.name]: bytes };
    for (const [path, data] of Object.entries(entries)) files[path.split('/').pop()!] = data;
  }
  const missing = ADAPTER_FILES.filter((n) => !(n in files));
  if (missing.length) throw new Error(`${missing.join(' and ')} not found among ${Object.keys(files).join(', ') || 'the picked files'}`);
  return Object.fromEntries(ADAPTER_FILES.map((n) => [n, files[n]]));
}

export function initExportPanel(engine: LoraEngine, store: Store): void {
  const dtype = $<HTMLSelectElement>('export-dtype');
  const exportButton = $<HTMLButtonElement>('export');
  const trlButton = $<HTMLButtonElement>('export-trl');
  const mergeButton = $<HTMLButtonElement>('merge');
  const mergeHint = $('merge-hint');
  const importInput = $<HTMLInputElement>('import');
  const importLabel = $('import-label');
  const adapterInfo = $('adapter-info');
  const status = $('export-status');

  /** Runs one export as the engine's job; its progress, then its outcome (or error), go into the status line. */
  const exporting: Exporting = async (what, fn) => {
    show(status, 'running', `${what}…`);
    try {
      show(status, 'done', await store.run('exporting', () => fn((text) => show(status, 'running', text))));
    } catch (e) {
      show(status, 'error', `${what} failed: ${errorMessage(e)}`);
    }
  };
  initGgufExport(engine, store, exporting);

  exportButton.addEventListener('click', () =>
    exporting('Exporting the adapter', async () => {
      const files = await engine.exportAdapter({ dtype: dtype.value === 'F16' ? 'F16' : 'F32' });
      const size = downloadZip(files, 'adapter.zip');
      return `adapter.zip (${mib(size, 2)} MiB): ${Object.keys(files).join(', ')}. Load it with PEFT: PeftModel.from_pretrained(model, "adapter").`;
    }),
  );

  trlButton.addEventListener('click', () =>
    exporting('Writing the TRL folder', async () => {
      const s = store.state;
      if (!s.config) throw new Error('fix the training settings first');
      const files = await engine.exportTrl(s.datasetText, s.config);
      downloadZip(files, 'webgpu-lora-trl.zip', 'webgpu-lora-trl');
      return `webgpu-lora-trl.zip: ${Object.keys(files).map((f) => `webgpu-lora-trl/${f}`).join(', ')}.`;
    }),
  );

  mergeButton.addEventListener('click', () =>
    exporting('Merging the adapter into the model', async () => {
      const files = await engine.mergeAdapter();
      const size = downloadZip(files, 'merged-model.zip');
      return `merged-model.zip (${mib(size)} MiB): ${Object.keys(files).join(', ')}.`;
    }),
  );

  importInput.addEventListener('change', async () => {
    const picked = Array.from(importInput.files ?? []);
    importInput.value = '';
    if (picked.length === 0) return;
    show(status, 'running', `Importing ${picked.map((f) => f.name).join(', ')}…`);
    try {
      const adapter = await store.run('importing', async () => engine.importAdapter(await readAdapterFiles(picked)));
      store.set({ adapter });
      show(status, 'done', `Imported ${picked.map((f) => f.name).join(', ')}.`);
    } catch (e) {
      show(status, 'error', `Import failed: ${errorMessage(e)}`);
    }
  });

  store.subscribe((s) => {
    const idle = s.job === null;
    const mergedBytes = s.model ? 4 * s.model.parameters : 0;
    exportButton.disabled = !idle || !s.adapter;
    mergeButton.disabled = !idle || !s.adapter || mergedBytes > MAX_MERGED_BYTES;
    trlButton.disabled = !idle || !s.model || !store.datasetOk || !s.config;
    importInput.disabled = !idle || !s.model;
    importLabel.classList.toggle('disabled', importInput.disabled);
    mergeHint.textContent = !s.model ? '' : mergedBytes > MAX_MERGED_BYTES
      ? `This model (about ${mib(mergedBytes, 0)} MiB in f32) is too large to merge in a browser tab; merge with PEFT instead.`
      : `About ${mib(mergedBytes, 0)} MiB in f32.`;
    adapterInfo.textContent = s.adapter
      ? `Current adapter: ${describeAdapter(s.adapter)}${s.adapter.baseModel ? ` · base model ${s.adapter.baseModel}` : ''}`
      : s.model ? 'No adapter yet: train one above or import one.' : 'Load a model first.';
  });
}
