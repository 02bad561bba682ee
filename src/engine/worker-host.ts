// The worker side of the browser engine: an Engine exposed with comlink. Callbacks arrive as
// separate top-level arguments (comlink proxies only those), and the files that exports return
// are transferred, not copied. See ./worker-client.ts for the page side.
import * as Comlink from 'comlink';
import type { TrainingConfigInput } from '../train/config.js';
import type { EvalEvent, StepEvent } from '../train/events.js';
import type { Engine } from './engine.js';
import type {
  DatasetInput, DatasetOptions, Files, GenerateRequest, LoadModelOptions, LoadModelProgress, ModelInput, TrainOptions, TrainStartEvent,
} from './types.js';

/**
 * A page callback that the call waits for: comlink delivers each callback call as its own
 * message, so without this the last progress events could reach the page after the call's result.
 * `settled()` resolves once every call made so far has been delivered.
 */
function delivered<A extends unknown[]>(callback: ((...args: A) => unknown) | undefined) {
  const pending = new Set<Promise<unknown>>();
  const fn = callback && ((...args: A) => {
    const p = Promise.resolve(callback(...args)).catch(() => {});
    pending.add(p);
    void p.then(() => pending.delete(p));
    return p;
  });
  return { fn, settled: () => Promise.all([...pending]) };
}

/** Runs `call`, then waits for the callbacks it made to reach the page, whether it succeeded or not. */
async function thenSettle<T>(call: () => Promise<T>, ...callbacks: Array<{ settled: () => Promise<unknown> }>): Promise<T> {
  try {
    return await call();
  } finally {
    await Promise.all(callbacks.map((c) => c.settled()));
  }
}

/** Hands `files` over with their buffers transferred (each buffer once). */
function transferFiles(files: Files): Files {
  return Comlink.transfer(files, [...new Set(Object.values(files).map((b) => b.buffer as ArrayBuffer))]);
}

/** What the worker exposes: Engine's methods, with callbacks as their own arguments. */
export function workerApi(engine: Engine) {
  return {
    gpuInfo: () => engine.gpuInfo(),
    loadModel: (model: ModelInput, onProgress?: (p: LoadModelProgress) => void, opts?: LoadModelOptions) => {
      const progress = delivered(onProgress);
      return thenSettle(() => engine.loadModel(model, progress.fn, opts), progress);
    },
    train: (
      data: DatasetInput,
      config: TrainingConfigInput | undefined,
      opts: TrainOptions | undefined,
      onStart?: (e: TrainStartEvent) => void,
      onStep?: (e: StepEvent) => void,
      onEval?: (e: EvalEvent) => void,
    ) => {
      const [start, step, evaluation] = [delivered(onStart), delivered(onStep), delivered(onEval)];
      return thenSettle(() => engine.train(data, config, { onStart: start.fn, onStep: step.fn, onEval: evaluation.fn }, opts), start, step, evaluation);
    },
    pause: () => engine.pause(),
    resume: () => engine.resume(),
    cancel: () => engine.cancel(),
    evaluate: (data: DatasetInput, opts?: DatasetOptions & { adapter?: boolean; maxLength?: number }) => engine.evaluate(data, opts),
    generate: (prompt: string, request: Omit<GenerateRequest, 'onText'> = {}, onText?: (t: string) => void) => {
      const text = delivered(onText);
      return thenSettle(() => engine.generate(prompt, { ...request, onText: text.fn }), text);
    },
    exportAdapter: async (opts?: { dtype?: 'F32' | 'F16' }) => transferFiles(await engine.exportAdapter(opts)),
    importAdapter: (files: Files) => engine.importAdapter(files),
    mergeAdapter: async () => transferFiles(await engine.mergeAdapter()),
    exportTrl: async (data: DatasetInput, config?: TrainingConfigInput, opts?: DatasetOptions) => transferFiles(await engine.exportTrl(data, config, opts)),
    estimateMemory: (config?: TrainingConfigInput, data?: DatasetInput, opts?: DatasetOptions) => engine.estimateMemory(config, data, opts),
    dispose: () => engine.dispose(),
  };
}

export type WorkerApi = ReturnType<typeof workerApi>;

/** Serves `engine` to the page that started this worker. */
export function exposeEngine(engine: Engine, endpoint: Comlink.Endpoint = self as unknown as Comlink.Endpoint): void {
  Comlink.expose(workerApi(engine), endpoint);
}
