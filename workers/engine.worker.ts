// The Web Worker that owns the GPU in the browser: one Engine (model, tokenizer, trainer,
// adapter), served to the page with comlink (src/engine/worker-host.ts).
import { Engine } from '../src/engine/engine.js';
import { exposeEngine } from '../src/engine/worker-host.js';

exposeEngine(new Engine());
