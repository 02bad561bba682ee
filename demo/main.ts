// The demo page: fine-tune a language model with LoRA on this computer's GPU. The engine (model,
// training, generation, exports) runs in a Web Worker that owns WebGPU; this thread only edits
// and checks the dataset and draws the page. Each panel is a module in ./ui/; they share ./ui/state.ts.
import { connectEngine } from '../src/engine/worker-client.js';
import { registerServiceWorker } from './offline.js';
import { initComparePanel } from './ui/compare-panel.js';
import { initDatasetPanel } from './ui/dataset-panel.js';
import { $, show } from './ui/dom.js';
import { initExportPanel } from './ui/export-panel.js';
import { initGpuPanel } from './ui/gpu-panel.js';
import { initHubToken } from './ui/hub-token.js';
import { initMemoryEstimate } from './ui/memory-estimate.js';
import { initModelPanel } from './ui/model-panel.js';
import { initSettingsPanel } from './ui/settings-panel.js';
import { Store } from './ui/state.js';
import { initTrainPanel } from './ui/train-panel.js';

void registerServiceWorker();

const worker = new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' });
const engine = connectEngine(worker);
const store = new Store();

// A worker that fails to start would leave every engine call waiting: say so where the GPU is shown.
worker.addEventListener('error', (e) => {
  show($('gpu-info'), 'error', `The engine's worker could not start${e.message ? `: ${e.message}` : ''}. Reload the page to try again.`);
  store.set({ gpuOk: false });
});

const compare = initComparePanel(engine, store);
const dataset = initDatasetPanel(store, (prompt) => compare.suggestPrompt(prompt));
initModelPanel(engine, store, initHubToken());
initSettingsPanel(store);
initMemoryEstimate(engine, store);
initTrainPanel(engine, store, dataset);
initExportPanel(engine, store);
void initGpuPanel(engine, store);
