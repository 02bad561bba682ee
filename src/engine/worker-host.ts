// The worker side of the browser engine: an Engine exposed with comlink. Callbacks arrive as
// separate top-level arguments (comlink proxies only those), and the files that exports and
// checkpoints return are transferred, not copied (a GGUF export's File is cloned, which passes a
// reference to its data, on disk where the worker wrote it there). The API it serves, WorkerApi, is derived from
// LoraEngine (./types.ts) so that the compiler keeps the two in step. See ./worker-client.ts for
// the page side.
import * as Comlink from 'comlink';
import type { Engine } from './engine.js';
import type { CheckpointOptions, Files, GenerateRequest, LoraEngine, TrainCallbacks, TrainOptions } from './types.js';

type Args<K extends keyof LoraEngine> = Parameters<LoraEngine[K]>;
type Result<K extends keyof LoraEngine> = ReturnType<LoraEngine[K]>;
type Callback<K extends keyof TrainCallbacks> = NonNullable<TrainCallbacks[K]>;

/**
 * TrainOptions as they cross to the worker: the checkpoint's write() travels as an argument of its
 * own, and a checkpoint to resume from as Files (a ModelSource cannot be sent).
 */
export type WireTrainOptions = Omit<TrainOptions, 'checkpoint' | 'resumeFrom'> & { checkpoint?: Omit<CheckpointOptions, 'write'>; resumeFrom?: Files };

/**
 * The LoraEngine methods that take callbacks: comlink proxies only top-level arguments, so their
 * callbacks travel as separate trailing arguments. Everything else is LoraEngine's own signature.
 */
interface WithCallbackArguments {
  loadModel(model: Args<'loadModel'>[0], onProgress?: Args<'loadModel'>[1], opts?: Args<'loadModel'>[2]): Result<'loadModel'>;
  train(
    data: Args<'train'>[0],
    config: Args<'train'>[1],
    opts: WireTrainOptions | undefined,
    onStart?: Callback<'onStart'>,
    onStep?: Callback<'onStep'>,
    onEval?: Callback<'onEval'>,
    onCheckpoint?: CheckpointOptions['write'],
    onPrepare?: Callback<'onPrepare'>,
  ): Result<'train'>;
  generate(prompt: Args<'generate'>[0], request?: Omit<GenerateRequest, 'onText'>, onText?: GenerateRequest['onText']): Result<'generate'>;
  exportGguf(request: Args<'exportGguf'>[0], onProgress?: Args<'exportGguf'>[1]): Result<'exportGguf'>;
}

/**
 * What the worker exposes, derived from LoraEngine: each of its methods, with the same arguments
 * and result (callbacks moved as above). A method added to or changed in LoraEngine fails to
 * compile in workerApi (and in connectEngine, ./worker-client.ts) until both sides follow.
 */
export type WorkerApi = { [K in keyof LoraEngine]: K extends keyof WithCallbackArguments ? WithCallbackArguments[K] : LoraEngine[K] };

/** Whether a type holds a function anywhere: postMessage cannot carry one (only comlink proxies of top-level arguments). */
type HoldsFunction<T> = T extends (...args: never[]) => unknown
  ? true
  : T extends ArrayBufferView | ArrayBuffer | Blob | FileSystemHandle | string | number | boolean | bigint | symbol | null | undefined
    ? false
    : T extends readonly (infer E)[]
      ? HoldsFunction<E>
      : T extends object
        ? true extends { [K in keyof T]-?: HoldsFunction<T[K]> }[keyof T] ? true : false
        : false;
type Assert<T extends false> = T;
type Plain = Exclude<keyof LoraEngine, keyof WithCallbackArguments>;
/**
 * Compile-time checks: what the methods passed through as they are take, and what every method
 * returns, is plain data (a callback added to one of them must be moved into WithCallbackArguments).
 */
export type WorkerApiIsPlainData = [
  Assert<{ [K in Plain]: HoldsFunction<Parameters<WorkerApi[K]>> }[Plain]>,
  Assert<{ [K in keyof WorkerApi]: HoldsFunction<Awaited<ReturnType<WorkerApi[K]>>> }[keyof WorkerApi]>,
  Assert<HoldsFunction<WireTrainOptions>>,
];

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

/** What the worker serves: the engine's methods, with callbacks as their own arguments and exported files transferred. */
export function workerApi(engine: Engine): WorkerApi {
  return {
    gpuInfo: () => engine.gpuInfo(),
    loadModel: (model, onProgress, opts) => {
      const progress = delivered(onProgress);
      return thenSettle(() => engine.loadModel(model, progress.fn, opts), progress);
    },
    train: (data, config, opts = {}, onStart, onStep, onEval, onCheckpoint, onPrepare) => {
      const [start, step, evaluation, prepare] = [delivered(onStart), delivered(onStep), delivered(onEval), delivered(onPrepare)];
      const { checkpoint, ...rest } = opts;
      const options: TrainOptions = rest;
      if (checkpoint) {
        if (!onCheckpoint) throw new Error('checkpoint.write must be a function that keeps the checkpoint\'s files');
        // The engine awaits it: the page's write (or its error) comes before the next step.
        options.checkpoint = { every: checkpoint.every, write: (files, k) => onCheckpoint(transferFiles(files), k) };
      }
      return thenSettle(() => engine.train(data, config, { onPrepare: prepare.fn, onStart: start.fn, onStep: step.fn, onEval: evaluation.fn }, options), prepare, start, step, evaluation);
    },
    pause: () => engine.pause(),
    resume: () => engine.resume(),
    cancel: () => engine.cancel(),
    checkpoint: async () => transferFiles(await engine.checkpoint()),
    evaluate: (data, opts) => engine.evaluate(data, opts),
    generate: (prompt, request = {}, onText) => {
      const text = delivered(onText);
      return thenSettle(() => engine.generate(prompt, { ...request, onText: text.fn }), text);
    },
    exportAdapter: async (opts) => transferFiles(await engine.exportAdapter(opts)),
    exportGguf: (request, onProgress) => {
      const progress = delivered(onProgress);
      return thenSettle(() => engine.exportGguf(request, progress.fn), progress);
    },
    importAdapter: (files) => engine.importAdapter(files),
    mergeAdapter: async () => transferFiles(await engine.mergeAdapter()),
    exportTrl: async (data, config, opts) => transferFiles(await engine.exportTrl(data, config, opts)),
    estimateMemory: (config, data, opts) => engine.estimateMemory(config, data, opts),
    dispose: () => engine.dispose(),
  };
}

/** Serves `engine` to the page that started this worker. */
export function exposeEngine(engine: Engine, endpoint: Comlink.Endpoint = self as unknown as Comlink.Endpoint): void {
  Comlink.expose(workerApi(engine), endpoint);
}
