// What a training run reports (after every step, after every evaluation, at the end) and the
// options of a Trainer; see ./trainer.ts.
import type { LoraAdapter } from '../lora/adapter.js';

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
  /** Mean loss of the last stepsPerEpoch steps (the last epoch's worth); NaN before any step. */
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
}
