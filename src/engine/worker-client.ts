// The page side of the browser engine: a LoraEngine whose every call runs in a worker that owns
// the GPU (workers/engine.worker.ts), so the page's main thread never touches WebGPU and stays
// responsive while a model loads or trains. Callbacks become comlink proxies, and a call returns
// only after its callbacks have been delivered; errors thrown in the worker arrive here as Errors
// with their messages.
//
//   const engine = connectEngine(new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' }));
//   await engine.loadModel('HuggingFaceTB/SmolLM2-135M-Instruct', (p) => console.log(p.item, p.done, p.total));
import * as Comlink from 'comlink';
import type { PickedFile } from '../model/source.js';
import type { LoraEngine, ModelInput, TrainOptions } from './types.js';
import type { WireTrainOptions, WorkerApi } from './worker-host.js';

/** A callback as comlink sends it (undefined stays undefined). */
const proxied = <F extends (...args: never[]) => unknown>(f: F | undefined) => (f ? Comlink.proxy(f) : undefined);

/** How long dispose() waits for the worker to free the GPU before it stops the worker anyway. */
const DISPOSE_GRACE_MS = 5000;

export interface WorkerEngine extends LoraEngine {
  /** Stops a running training, frees the engine's GPU resources and ends the worker; calls still waiting reject. */
  dispose(): Promise<void>;
}

/**
 * The model input as the worker needs it: a path on this site becomes a full URL (the worker's
 * own location may be a blob: URL), and picked Files keep their folder paths, which structured
 * cloning drops.
 */
function forWorker(model: ModelInput): ModelInput {
  if (typeof model === 'string') {
    const s = model.trim();
    const sitePath = /^(\/|\.\.?\/)/.test(s);
    return sitePath && typeof document !== 'undefined' ? new URL(s, document.baseURI).href : s;
  }
  if (Array.isArray(model)) return model.map((f): PickedFile => (f instanceof File ? { path: f.webkitRelativePath || f.name, file: f } : f));
  if ('read' in model && typeof model.read === 'function') {
    throw new Error('a ModelSource cannot be sent to the worker: give a URL, a Hugging Face id, picked Files or a directory handle');
  }
  return model;
}

/**
 * TrainOptions as the worker takes them: the checkpoint's write() goes as its own (proxied)
 * argument, and a checkpoint to resume from must be Files (the page's copy is cloned, not moved).
 */
function trainOptionsForWorker(opts: TrainOptions = {}): WireTrainOptions {
  const { checkpoint, resumeFrom, ...rest } = opts;
  if (resumeFrom !== undefined && typeof (resumeFrom as { read?: unknown }).read === 'function') {
    throw new Error('a ModelSource cannot be sent to the worker: give the checkpoint as Files (file name → bytes)');
  }
  return {
    ...rest,
    ...(checkpoint ? { checkpoint: { every: checkpoint.every } } : {}),
    ...(resumeFrom ? { resumeFrom: resumeFrom as Record<string, Uint8Array> } : {}),
  };
}

export function connectEngine(worker: Worker): WorkerEngine {
  const remote = Comlink.wrap<WorkerApi>(worker);
  const waiting = new Set<(e: Error) => void>();
  let ended: Error | null = null;

  /** A call that rejects, instead of waiting forever, once the worker is gone. */
  function call<T>(start: () => Promise<T>): Promise<T> {
    if (ended) return Promise.reject(ended);
    return new Promise<T>((resolve, reject) => {
      waiting.add(reject);
      start().then(resolve, reject).finally(() => waiting.delete(reject));
    });
  }
  function end(reason: Error) {
    ended ??= reason;
    for (const reject of waiting) reject(reason);
    waiting.clear();
  }
  worker.addEventListener('error', (e) => end(new Error(`the engine's worker failed${e.message ? `: ${e.message}` : ''}`)));

  return {
    gpuInfo: () => call(() => remote.gpuInfo()),
    loadModel: (model, onProgress, opts) => call(async () => remote.loadModel(forWorker(model), proxied(onProgress), opts)),
    train: (data, config, callbacks = {}, opts) =>
      call(async () => remote.train(
        data, config, trainOptionsForWorker(opts),
        proxied(callbacks.onStart), proxied(callbacks.onStep), proxied(callbacks.onEval), proxied(opts?.checkpoint?.write),
        proxied(callbacks.onPrepare),
      )),
    pause: () => call(() => remote.pause()),
    resume: () => call(() => remote.resume()),
    cancel: () => call(() => remote.cancel()),
    checkpoint: () => call(() => remote.checkpoint()),
    evaluate: (data, opts) => call(() => remote.evaluate(data, opts)),
    generate: (prompt, request = {}) => {
      const { onText, ...rest } = request;
      return call(() => remote.generate(prompt, rest, proxied(onText)));
    },
    exportAdapter: (opts) => call(() => remote.exportAdapter(opts)),
    exportGguf: (request, onProgress) => call(() => remote.exportGguf(request, proxied(onProgress))),
    importAdapter: (files) => call(() => remote.importAdapter(files)),
    mergeAdapter: () => call(() => remote.mergeAdapter()),
    exportTrl: (data, config, opts) => call(() => remote.exportTrl(data, config, opts)),
    estimateMemory: (config, data, opts) => call(() => remote.estimateMemory(config, data, opts)),
    async dispose() {
      if (ended) return;
      const grace = new Promise((resolve) => setTimeout(resolve, DISPOSE_GRACE_MS));
      try {
        await Promise.race([remote.dispose(), grace]);
      } catch {
        // The worker could not free its resources; stopping it frees them all.
      } finally {
        end(new Error('the engine was disposed'));
        remote[Comlink.releaseProxy]();
        worker.terminate();
      }
    },
  };
}
