// The training loop: examples + a TrainingConfig → a trained LoRA adapter, with progress events,
// pause / resume / cancel between steps, evaluation on a held-out split, and checkpoints from
// which a run resumes bit for bit.
//
// Steps. The training rows are cut into micro-batches of batchSize rows in each epoch's seeded
// order (the last one of an epoch may be smaller); gradientAccumulationSteps micro-batches make an
// optimizer step, and a step never crosses an epoch's end. So with n rows,
//   batchesPerEpoch = ⌈n / batchSize⌉,  stepsPerEpoch = ⌈batchesPerEpoch / accumulation⌉,
//   totalSteps = min(maxSteps, epochs · stepsPerEpoch),
// and step k (0-based) covers epoch ⌊k / stepsPerEpoch⌋, micro-batches from
// (k mod stepsPerEpoch) · accumulation on. Everything that decides a step (the rows, their order,
// the learning rate) is a function of k, the config and the data, which is why a checkpoint needs
// only k, the adapter and AdamW's moments to continue exactly.
//
// Non-finite steps. A step whose loss or gradient norm is NaN or ±Infinity applies no update
// (step.ts tryStep) but still counts as step k; its StepEvent says so (nonFinite), and after
// config.maxNonFiniteSteps such steps in a row run() throws a NonFiniteTrainingError naming the
// step, with the adapter as the last applied update left it.
import type { GpuContext } from '../gpu/device.js';
import { checkAdapterWeights, initLoraAdapter, type LoraAdapter } from '../lora/adapter.js';
import { resolveLoraModules } from '../lora/config.js';
import { GpuLora } from '../lora/gpu-lora.js';
import { exportPeft, importPeft } from '../lora/peft.js';
import type { ModelSpec } from '../model/config.js';
import type { LanguageModel } from '../model/model.js';
import type { ModelSource } from '../model/source.js';
import type { TextTokenizer } from '../tokenize/tokenizer.js';
import { epochOrder, makeBatch, paddedLength, type Batch } from './batches.js';
import {
  checkpointSource, decodeOptimizer, decodeState, encodeOptimizer, encodeState, type CheckpointFiles, type TrainerState,
} from './checkpoint.js';
import { resolveTrainingConfig, type TrainingConfig, type TrainingConfigInput } from './config.js';
import type { Example } from './dataset.js';
import { prepareExamples, prepareExamplesWith, type PreparedData, type TokenRow } from './prepare.js';
import { learningRateAt, warmupStepCount } from './schedule.js';
import { TrainStep } from './step.js';
import { NonFiniteTrainingError, type EvalEvent, type NonFiniteValue, type RunCallbacks, type TrainerOptions, type TrainResult } from './events.js';

export type { CheckpointFiles } from './checkpoint.js';
export type { EvalEvent, NonFiniteValue, RunCallbacks, StepEvent, TrainerOptions, TrainResult } from './events.js';
export { NonFiniteTrainingError } from './events.js';

/** Throws unless `adapter`'s weights are complete and its modules are exactly those its config selects in this model. */
export function checkAdapterFits(adapter: LoraAdapter, spec: ModelSpec, what: string): void {
  checkAdapterWeights(adapter, what);
  const want = resolveLoraModules(spec, adapter.config);
  const fits = want.length === adapter.modules.length &&
    want.every((m, i) => { const a = adapter.modules[i]; return a.path === m.path && a.inFeatures === m.inFeatures && a.outFeatures === m.outFeatures; });
  if (!fits) throw new Error(`${what}'s modules do not match this ${spec.modelType} model's layers`);
}

export class Trainer {
  readonly totalSteps: number;
  readonly stepsPerEpoch: number;
  readonly warmupSteps: number;
  /** Optimizer steps done. */
  private stepsDone = 0;
  private losses: number[] = [];
  /** Steps in a row, up to the last one, whose update was skipped for a non-finite loss or gradient (not saved in checkpoints). */
  private nonFiniteRun = 0;
  private evaluations: Array<{ step: number; validationLoss: number }> = [];
  private elapsedMs = 0;
  private running = false;
  private cancelled = false;
  private gate: { promise: Promise<void>; open: () => void } | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private orderCache: { epoch: number; order: number[] } | null = null;

  private constructor(
    readonly ctx: GpuContext,
    readonly model: LanguageModel,
    readonly config: TrainingConfig,
    readonly data: PreparedData,
    readonly lora: GpuLora,
    private readonly trainStep: TrainStep,
    readonly baseModel: string,
    private readonly padId: number,
  ) {
    const batches = Math.ceil(data.train.length / config.batchSize);
    this.stepsPerEpoch = Math.ceil(batches / config.gradientAccumulationSteps);
    this.totalSteps = Math.min(config.maxSteps ?? Infinity, config.epochs * this.stepsPerEpoch);
    this.warmupSteps = warmupStepCount(this.totalSteps, config.warmupSteps, config.warmupRatio);
  }

  /**
   * Formats and splits the examples, creates (or takes) the adapter and plans the GPU buffers for
   * (batchSize, the longest formatted example). Throws on a bad config or unusable data.
   */
  static async create(
    ctx: GpuContext,
    model: LanguageModel,
    tokenizer: TextTokenizer,
    examples: Example[],
    input: TrainingConfigInput = {},
    opts: TrainerOptions = {},
  ): Promise<Trainer> {
    let config = resolveTrainingConfig(input);
    const spec = model.spec;
    const baseModel = opts.baseModel ?? opts.adapter?.baseModel ?? model.source.description;
    let adapter = opts.adapter;
    if (adapter) {
      checkAdapterFits(adapter, spec, 'the starting adapter');
      config = resolveTrainingConfig({ ...config, lora: adapter.config });
    }
    const maxLength = Math.min(config.maxLength, spec.maxPositions);
    const prepare = { maxLength, trainOnInputs: config.trainOnInputs, valSplit: config.valSplit, seed: config.seed };
    const data = opts.formatter
      ? await prepareExamplesWith(examples, tokenizer, prepare, opts.formatter, opts.onPrepare)
      : prepareExamples(examples, tokenizer, prepare, opts.onPrepare);
    adapter ??= initLoraAdapter(spec, config.lora, config.seed, baseModel);
    // LoRA dropout's masks hash (seed, optimizer step, micro-batch, module, element), so a resumed
    // run draws the masks the uninterrupted run would have drawn.
    const lora = GpuLora.create(ctx, adapter, { dropoutSeed: config.seed >>> 0 });
    const step = new TrainStep(ctx, model, lora, config.batchSize, data.longest, config.optimizer, { gradientCheckpointing: config.gradientCheckpointing });
    const padId = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
    return new Trainer(ctx, model, config, data, lora, step, baseModel, padId);
  }

  /**
   * A trainer that continues from checkpoint files (checkpoint()'s, or any file name → bytes
   * record holding them) or a folder holding them, with the checkpoint's config; `examples` must
   * be the ones it was trained on.
   */
  static async fromCheckpoint(
    ctx: GpuContext,
    model: LanguageModel,
    tokenizer: TextTokenizer,
    examples: Example[],
    checkpoint: CheckpointFiles | Record<string, Uint8Array> | ModelSource,
    prepare: Pick<TrainerOptions, 'onPrepare' | 'formatter'> = {},
  ): Promise<Trainer> {
    const source = checkpointSource(checkpoint);
    const state = await decodeState(source);
    // The saved config's LoRA settings are the authority (create() checks that the modules match).
    const adapter = { ...(await importPeft(source, model.spec)), config: state.config.lora };
    const t = await Trainer.create(ctx, model, tokenizer, examples, state.config, { ...prepare, adapter, baseModel: state.baseModel });
    try {
      const d = t.data;
      if (d.fingerprint !== state.data.fingerprint || d.train.length !== state.data.train || d.validation.length !== state.data.validation) {
        throw new Error(
          `${source.description}: the examples differ from the ones this checkpoint was trained on ` +
            `(${d.train.length} + ${d.validation.length} rows, fingerprint ${d.fingerprint}; the checkpoint has ` +
            `${state.data.train} + ${state.data.validation}, ${state.data.fingerprint})`,
        );
      }
      if (state.totalSteps !== t.totalSteps || state.step > t.totalSteps) throw new Error(`${source.description}: its step counts do not match its config`);
      const opt = await decodeOptimizer(t.lora, source);
      if (opt.step !== state.step) throw new Error(`${source.description}: optimizer step ${opt.step} differs from the trainer state's step ${state.step}`);
      t.trainStep.restoreOptimizerState(opt);
      t.stepsDone = state.step;
      t.losses = [...state.losses];
      t.evaluations = [...state.evaluations];
      t.elapsedMs = state.elapsedMs;
      return t;
    } catch (e) {
      t.destroy();
      throw e;
    }
  }

  get step(): number {
    return this.stepsDone;
  }
  get truncated(): number {
    return this.data.truncatedLines.length;
  }
  get skipped(): number {
    return this.data.skippedLines.length;
  }
  get paused(): boolean {
    return this.gate !== null;
  }

  /** Stop before the next step until resume(). */
  pause(): void {
    if (this.gate) return;
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  resume(): void {
    const g = this.gate;
    this.gate = null;
    g?.open();
  }

  /** Stop after the current step; run() then resolves with cancelled: true. */
  cancel(): void {
    this.cancelled = true;
    this.resume();
  }

  /**
   * Trains up to totalSteps (or until cancel()), calling back after every step and evaluation.
   * Evaluates before the first step, every evalEvery steps (else at each epoch's end), and after
   * the last step. Calling run() again after a cancel continues the same run.
   */
  async run(callbacks: RunCallbacks = {}): Promise<TrainResult> {
    if (this.running) throw new Error('this trainer is already running');
    this.running = true;
    this.cancelled = false;
    let stepTimeMs = 0;
    let timedSteps = 0;
    try {
      if (this.stepsDone === 0 && this.evaluations.length === 0) {
        const evaluation = await this.evaluateAndRecord();
        if (evaluation) await callbacks.onEval?.({ ...evaluation });
      }
      while (this.stepsDone < this.totalSteps) {
        if (this.gate) await this.gate.promise;
        if (this.cancelled) break;
        const t0 = performance.now();
        const { loss, lr, tokens, nonFinite } = await this.exclusive(() => this.oneStep());
        const ms = performance.now() - t0;
        this.elapsedMs += ms;
        stepTimeMs += ms;
        timedSteps++;
        const k = this.stepsDone;
        this.nonFiniteRun = nonFinite ? this.nonFiniteRun + 1 : 0;
        const stop = this.nonFiniteRun >= this.config.maxNonFiniteSteps;
        // Evaluate before reporting the step, so that a checkpoint taken in onStep includes it.
        const epochEnd = k % this.stepsPerEpoch === 0;
        const due = this.config.evalEvery !== null ? k % this.config.evalEvery === 0 : epochEnd;
        const evaluation = !stop && (due || k === this.totalSteps) ? await this.evaluateAndRecord() : null;
        await callbacks.onStep?.({
          step: k,
          totalSteps: this.totalSteps,
          epoch: this.epochsDone(k),
          loss,
          learningRate: lr,
          tokensPerSecond: (tokens / Math.max(ms, 1e-3)) * 1000,
          elapsedMs: this.elapsedMs,
          etaMs: (stepTimeMs / timedSteps) * (this.totalSteps - k),
          ...(nonFinite ? { nonFinite } : {}),
        });
        if (stop) throw new NonFiniteTrainingError(k, this.totalSteps, this.nonFiniteRun, nonFinite!, lr);
        if (evaluation) await callbacks.onEval?.({ ...evaluation });
      }
      return await this.exclusive(async () => this.result());
    } finally {
      this.running = false;
    }
  }

  /** Mean validation loss over every target token of the validation set; null without one. */
  async evaluate(): Promise<number | null> {
    return this.data.validation.length === 0 ? null : this.meanLoss('validation');
  }

  /**
   * Mean loss over every target token of the training or validation rows, with the adapter as it
   * is now (no update); 0 when the rows have no target token.
   */
  async meanLoss(which: 'train' | 'validation'): Promise<number> {
    const rows = this.data[which];
    return this.exclusive(async () => {
      let sum = 0;
      let count = 0;
      const B = this.config.batchSize;
      for (let i = 0; i < rows.length; i += B) {
        const batch = this.batchOf(rows.slice(i, i + B));
        const r = await this.trainStep.loss(batch);
        sum += r.loss * r.count;
        count += r.count;
      }
      return count > 0 ? sum / count : 0;
    });
  }

  /** Rows padded into one batch, its length a multiple of LENGTH_MULTIPLE up to the planned maximum (batches.ts paddedLength). */
  private batchOf(rows: TokenRow[]): Batch {
    return makeBatch(rows, this.padId, paddedLength(Math.max(...rows.map((r) => r.ids.length)), this.data.longest));
  }

  /** The adapter as trained so far. */
  async adapter(): Promise<LoraAdapter> {
    return this.exclusive(() => this.lora.download());
  }

  /** The checkpoint files of the state after the last completed step (taken between steps). */
  async checkpoint(): Promise<CheckpointFiles> {
    return this.exclusive(async () => {
      const adapter = await this.lora.download();
      const k = this.stepsDone;
      const spe = this.stepsPerEpoch;
      const state: TrainerState = {
        format: 'webgpu-lora-trainer-state',
        version: 1,
        config: this.config,
        baseModel: this.baseModel,
        step: k,
        totalSteps: this.totalSteps,
        epoch: Math.floor(k / spe),
        batchInEpoch: (k % spe) * this.config.gradientAccumulationSteps,
        orderSeed: this.config.seed,
        data: { train: this.data.train.length, validation: this.data.validation.length, fingerprint: this.data.fingerprint },
        losses: [...this.losses],
        evaluations: [...this.evaluations],
        elapsedMs: this.elapsedMs,
      };
      return {
        ...exportPeft(adapter, this.model.spec),
        'optimizer.safetensors': encodeOptimizer(this.lora, await this.trainStep.optimizerState()),
        'trainer_state.json': encodeState(state),
      };
    });
  }

  /** Frees the GPU buffers of the adapter and the training step (not the model's). */
  destroy(): void {
    this.trainStep.destroy();
    this.lora.destroy();
  }

  /** Step k = stepsDone: its micro-batches, the learning rate, one forward/backward/AdamW. */
  private async oneStep(): Promise<{ loss: number; lr: number; tokens: number; nonFinite: NonFiniteValue | null }> {
    const k = this.stepsDone;
    const { batchSize: B, gradientAccumulationSteps: accumulation } = this.config;
    const epoch = Math.floor(k / this.stepsPerEpoch);
    const rows = this.data.train;
    if (this.orderCache?.epoch !== epoch) this.orderCache = { epoch, order: epochOrder(rows.length, epoch, this.config.seed) };
    const order = this.orderCache.order;
    const first = (k % this.stepsPerEpoch) * accumulation;
    const micro = [];
    let tokens = 0;
    for (let b = first; b < first + accumulation && b * B < rows.length; b++) {
      const part: TokenRow[] = order.slice(b * B, (b + 1) * B).map((i) => rows[i]);
      tokens += part.reduce((n, r) => n + r.ids.length, 0);
      micro.push(this.batchOf(part));
    }
    const lr = learningRateAt(this.config, k, this.totalSteps, this.warmupSteps);
    const { loss, nonFinite } = await this.trainStep.tryStep(micro, lr);
    this.losses.push(loss);
    this.stepsDone = k + 1;
    return { loss, lr, tokens, nonFinite };
  }

  /** Fractional epochs after k steps. */
  private epochsDone(k: number): number {
    const full = Math.floor(k / this.stepsPerEpoch);
    const batches = Math.ceil(this.data.train.length / this.config.batchSize);
    const within = Math.min(batches, (k % this.stepsPerEpoch) * this.config.gradientAccumulationSteps);
    return full + within / batches;
  }

  /** Evaluates (timed as training), records and returns the evaluation; null without a validation set. */
  private async evaluateAndRecord(): Promise<EvalEvent | null> {
    const t0 = performance.now();
    const validationLoss = await this.evaluate();
    this.elapsedMs += performance.now() - t0;
    if (validationLoss === null) return null;
    const e = { step: this.stepsDone, validationLoss };
    this.evaluations.push(e);
    return e;
  }

  private async result(): Promise<TrainResult> {
    const recent = this.losses.slice(-this.stepsPerEpoch).filter(Number.isFinite);
    const evals = this.evaluations;
    return {
      adapter: await this.lora.download(),
      steps: this.stepsDone,
      totalSteps: this.totalSteps,
      trainLoss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN,
      validationLoss: evals.length ? evals[evals.length - 1].validationLoss : null,
      initialValidationLoss: evals.length && evals[0].step === 0 ? evals[0].validationLoss : null,
      truncated: this.truncated,
      skipped: this.skipped,
      cancelled: this.stepsDone < this.totalSteps,
      elapsedMs: this.elapsedMs,
    };
  }

  /** Runs fn after everything queued before it: steps, evaluations and checkpoints never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.lock.then(fn);
    this.lock = r.catch(() => {});
    return r;
  }
}
