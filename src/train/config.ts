// Everything a training run is configured by, in one typed object with documented defaults
// (after mlx-lm's TrainingArgs and transformers' TrainingArguments), and its validation.
import { DEFAULT_LORA, type LoraConfig } from '../lora/config.js';
import { LR_SCHEDULES, type LrSchedule } from './schedule.js';
import { DEFAULT_OPTIMIZER, type OptimizerConfig } from './step.js';

export type { LrSchedule } from './schedule.js';

export interface TrainingConfig {
  /** Passes over the training examples. Default 3. */
  epochs: number;
  /** Stop after this many optimizer steps if that comes before the end of the last epoch; null = no limit. */
  maxSteps: number | null;
  /** Examples per micro-batch. Default 4. */
  batchSize: number;
  /** Micro-batches per optimizer step (effective batch = batchSize · this). Default 1. */
  gradientAccumulationSteps: number;
  /** Tokens per example; longer examples are cut at the end (and counted as truncated). Default 512. */
  maxLength: number;
  /** Peak learning rate. Default 2e-4 (a common LoRA choice). */
  learningRate: number;
  /** How the learning rate moves from the peak after warmup (see ./schedule.ts). Default 'linear'. */
  lrSchedule: LrSchedule;
  /** Steps of linear warmup from 0 to the peak. Default 0. Set this or warmupRatio, not both. */
  warmupSteps: number;
  /** Warmup as a fraction of the total steps (⌈total · ratio⌉ steps), in [0, 1). Default 0. */
  warmupRatio: number;
  /** Seeds the adapter's initialization, the validation split and the order of every epoch. Default 0. */
  seed: number;
  /** Fraction of the examples held out for validation, in [0, 1); 0 = none. Default 0.1. */
  valSplit: number;
  /** Evaluate every this many optimizer steps; null = at the end of each epoch. Default null. */
  evalEvery: number | null;
  /** Learn the prompt tokens too, not only the replies. Default false. */
  trainOnInputs: boolean;
  /**
   * Gradient checkpointing: save only each layer's input and recompute the layer's activations in
   * the backward pass, so the saved activations are one layer's instead of all L layers' (less
   * memory at long sequences, about a third more compute; the same losses and gradients, bit for
   * bit). Default false.
   */
  gradientCheckpointing: boolean;
  /**
   * A step whose loss or gradient norm is NaN or ±Infinity applies no update (the adapter and
   * AdamW's moments stay as they were) and is reported (StepEvent.nonFinite); after this many such
   * steps in a row the run stops with a NonFiniteTrainingError naming the step and what was not
   * finite. A skipped step still counts as a step: its micro-batches are used up, and maxSteps,
   * the learning-rate schedule, evaluations, checkpoints and AdamW's step count t (which sets the
   * bias correction of the later updates) move on as after any step, so a run stays a function of
   * the step number and resumes from a checkpoint exactly. Consecutive, not total: one bad batch
   * is skipped and forgotten, a diverged run (every step non-finite) stops. Default 3.
   */
  maxNonFiniteSteps: number;
  /** The adapter: rank 16, alpha 32, every linear layer, no rsLoRA, no dropout. */
  lora: LoraConfig;
  /** AdamW: betas 0.9 / 0.999, eps 1e-8, weight decay 0 (transformers' Trainer default), clipping at norm 1. */
  optimizer: OptimizerConfig;
}

/** Any subset of the settings; the rest take their defaults (lora and optimizer merge field by field). */
export type TrainingConfigInput = Partial<Omit<TrainingConfig, 'lora' | 'optimizer'>> & {
  lora?: Partial<LoraConfig>;
  optimizer?: Partial<OptimizerConfig>;
};

export const DEFAULT_TRAINING_CONFIG: TrainingConfig = {
  epochs: 3,
  maxSteps: null,
  batchSize: 4,
  gradientAccumulationSteps: 1,
  maxLength: 512,
  learningRate: 2e-4,
  lrSchedule: 'linear',
  warmupSteps: 0,
  warmupRatio: 0,
  seed: 0,
  valSplit: 0.1,
  evalEvery: null,
  trainOnInputs: false,
  gradientCheckpointing: false,
  maxNonFiniteSteps: 3,
  lora: { ...DEFAULT_LORA },
  optimizer: { ...DEFAULT_OPTIMIZER, weightDecay: 0 },
};

/** A setting that is out of range; the message names the field. */
export class TrainingConfigError extends Error {
  override name = 'TrainingConfigError';
  constructor(readonly field: string, message: string) {
    super(`training config: ${field} ${message}`);
  }
}

/** The defaults with `input` applied, validated; throws TrainingConfigError naming the first bad field. */
export function resolveTrainingConfig(input: TrainingConfigInput = {}): TrainingConfig {
  const known = new Set(Object.keys(DEFAULT_TRAINING_CONFIG));
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw new TrainingConfigError(key, `is not a training setting (they are: ${[...known].join(', ')})`);
  }
  const defined = <T extends object>(o: T | undefined): Partial<T> =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
  const config: TrainingConfig = {
    ...DEFAULT_TRAINING_CONFIG,
    ...defined(input),
    lora: { ...DEFAULT_TRAINING_CONFIG.lora, ...defined(input.lora) },
    optimizer: { ...DEFAULT_TRAINING_CONFIG.optimizer, ...defined(input.optimizer) },
  } as TrainingConfig;
  validateTrainingConfig(config);
  return config;
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Throws TrainingConfigError for the first field that is out of range. */
export function validateTrainingConfig(c: TrainingConfig): void {
  const fail = (field: string, msg: string, value: unknown): never => {
    throw new TrainingConfigError(field, `${msg}, got ${JSON.stringify(value) ?? String(value)}`);
  };
  const positiveInt = (field: keyof TrainingConfig) => {
    if (!isInt(c[field]) || (c[field] as number) < 1) fail(field, 'must be an integer ≥ 1', c[field]);
  };
  positiveInt('epochs');
  if (c.maxSteps !== null && (!isInt(c.maxSteps) || c.maxSteps < 1)) fail('maxSteps', 'must be an integer ≥ 1 or null', c.maxSteps);
  positiveInt('batchSize');
  positiveInt('gradientAccumulationSteps');
  positiveInt('maxLength');
  if (!isNum(c.learningRate) || c.learningRate <= 0) fail('learningRate', 'must be a positive number', c.learningRate);
  if (!LR_SCHEDULES.includes(c.lrSchedule)) fail('lrSchedule', `must be one of ${LR_SCHEDULES.join(', ')}`, c.lrSchedule);
  if (!isInt(c.warmupSteps) || c.warmupSteps < 0) fail('warmupSteps', 'must be an integer ≥ 0', c.warmupSteps);
  if (!isNum(c.warmupRatio) || c.warmupRatio < 0 || c.warmupRatio >= 1) fail('warmupRatio', 'must be in [0, 1)', c.warmupRatio);
  if (c.warmupSteps > 0 && c.warmupRatio > 0) fail('warmupRatio', 'cannot be set together with warmupSteps; set one of them', c.warmupRatio);
  if (!isInt(c.seed)) fail('seed', 'must be an integer', c.seed);
  if (!isNum(c.valSplit) || c.valSplit < 0 || c.valSplit >= 1) fail('valSplit', 'must be in [0, 1) (0 = no validation set)', c.valSplit);
  if (c.evalEvery !== null && (!isInt(c.evalEvery) || c.evalEvery < 1)) fail('evalEvery', 'must be an integer ≥ 1 or null (once per epoch)', c.evalEvery);
  if (typeof c.trainOnInputs !== 'boolean') fail('trainOnInputs', 'must be true or false', c.trainOnInputs);
  if (typeof c.gradientCheckpointing !== 'boolean') fail('gradientCheckpointing', 'must be true or false', c.gradientCheckpointing);
  if (!isInt(c.maxNonFiniteSteps) || c.maxNonFiniteSteps < 1) fail('maxNonFiniteSteps', 'must be an integer ≥ 1 (consecutive non-finite steps that stop the run)', c.maxNonFiniteSteps);

  const l = c.lora;
  if (typeof l !== 'object' || l === null) fail('lora', 'must be an object', l);
  if (!isInt(l.r) || l.r < 1) fail('lora.r', '(the rank) must be an integer ≥ 1', l.r);
  if (!isNum(l.alpha) || l.alpha <= 0) fail('lora.alpha', 'must be a positive number', l.alpha);
  if (!isNum(l.dropout) || l.dropout < 0 || l.dropout >= 1) fail('lora.dropout', 'must be in [0, 1)', l.dropout);
  if (typeof l.useRslora !== 'boolean') fail('lora.useRslora', 'must be true or false', l.useRslora);
  const names = l.targetModules;
  if (names !== 'all-linear' && !(Array.isArray(names) && names.length > 0 && names.every((m) => typeof m === 'string' && m !== ''))) {
    fail('lora.targetModules', "must be 'all-linear' or a non-empty list of module names", names);
  }

  const o = c.optimizer;
  if (typeof o !== 'object' || o === null) fail('optimizer', 'must be an object', o);
  if (!isNum(o.beta1) || o.beta1 < 0 || o.beta1 >= 1) fail('optimizer.beta1', 'must be in [0, 1)', o.beta1);
  if (!isNum(o.beta2) || o.beta2 < 0 || o.beta2 >= 1) fail('optimizer.beta2', 'must be in [0, 1)', o.beta2);
  if (!isNum(o.eps) || o.eps <= 0) fail('optimizer.eps', 'must be a positive number', o.eps);
  if (!isNum(o.weightDecay) || o.weightDecay < 0) fail('optimizer.weightDecay', 'must be a number ≥ 0', o.weightDecay);
  if (o.maxGradNorm !== null && (!isNum(o.maxGradNorm) || o.maxGradNorm <= 0)) fail('optimizer.maxGradNorm', 'must be a positive number or null (no clipping)', o.maxGradNorm);
}
