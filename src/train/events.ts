// What a training run reports (after every step, after every evaluation, at the end) and the
// options of a Trainer; see ./trainer.ts.
import type { LoraAdapter } from '../lora/adapter.js';
import type { PartFormatter } from './prepare.js';

export interface StepEvent {
  /** Optimizer steps done (1 after the first), of totalSteps. */
  step: number;
  totalSteps: number;
  /** Epochs done, fractional: 1.5 = halfway through the second epoch. */
  epoch: number;
  /** The step's loss (token-weighted mean over its micro-batches, before the update). */
  loss: number;
  /** The learning rate the step used. */
  learningRate: number;
  /** Real (non-padding) tokens of the step per second of its wall time. */
  tokensPerSecond: number;
  /** Time spent training so far (not paused), including earlier runs resumed from. */
  elapsedMs: number;
  /** Estimated time to the last step, from this run's mean step time. */
  etaMs: number;
  /**
   * Present when the step applied no update because its loss or its gradient was NaN or ±Infinity
   * (TrainingConfig.maxNonFiniteSteps): which one (the loss is checked first) and its value (for a
   * gradient, the global gradient norm, which is non-finite exactly when some gradient is or when
   * the sum of their squares overflows f32).
   */
  nonFinite?: NonFiniteValue;
}

export interface NonFiniteValue {
  what: 'loss' | 'gradient';
  value: number;
}

/**
 * The error a run stops with after maxNonFiniteSteps consecutive steps without a finite loss or
 * gradient. `step` is the 1-based step it stopped at; the adapter holds the state of the last
 * step that applied an update (the skipped ones changed nothing).
 */
export class NonFiniteTrainingError extends Error {
  override name = 'NonFiniteTrainingError';
  constructor(
    readonly step: number,
    readonly totalSteps: number,
    readonly consecutive: number,
    readonly nonFinite: NonFiniteValue,
    learningRate: number,
  ) {
    super(
      `training stopped at step ${step} of ${totalSteps}: ${consecutive} consecutive step${consecutive === 1 ? '' : 's'} ` +
        `had a non-finite ${nonFinite.what === 'loss' ? 'loss' : 'gradient'} (at step ${step} the ` +
        `${nonFinite.what === 'loss' ? 'loss' : 'gradient norm'} was ${nonFinite.value}; learning rate ${learningRate}). ` +
        `Their updates were skipped, so the adapter is the one after step ${step - consecutive}. ` +
        'Training diverged (or the model or data holds values that overflow): try a lower learning rate',
    );
  }
}

export interface EvalEvent {
  /** Steps done when evaluated (0 = before training). */
  step: number;
  /** Mean loss over every target token of the validation set. */
  validationLoss: number;
}

export interface RunCallbacks {
  /** Awaited before the next step; it may call checkpoint(). */
  onStep?: (e: StepEvent) => void | Promise<void>;
  onEval?: (e: EvalEvent) => void | Promise<void>;
}

export interface TrainResult {
  adapter: LoraAdapter;
  steps: number;
  totalSteps: number;
  /** Mean loss of the last stepsPerEpoch steps (the last epoch's worth), leaving out non-finite ones; NaN before any step. */
  trainLoss: number;
  /** The latest validation loss (null without a validation set). */
  validationLoss: number | null;
  /** The validation loss before the first step (null without a validation set). */
  initialValidationLoss: number | null;
  truncated: number;
  skipped: number;
  /** Whether cancel() stopped the run before its last step. */
  cancelled: boolean;
  elapsedMs: number;
}

export interface TrainerOptions {
  /** Continue training this adapter (its own LoRA settings replace config.lora); default a new one. */
  adapter?: LoraAdapter;
  /** base_model_name_or_path of the exported adapter; default the model source's description. */
  baseModel?: string;
  /** While the examples are tokenized: `done` of `total`, about every 1 % and at the end. */
  onPrepare?: (p: { done: number; total: number }) => void;
  /** Formats the examples elsewhere (e.g. on worker threads); default in this thread. */
  formatter?: PartFormatter;
}
