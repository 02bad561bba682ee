// The <lora-trainer> element's training attributes, read strictly into a TrainingConfigInput.
// An attribute that is absent keeps DEFAULT_TRAINING_CONFIG's value; one that is present must be
// a plain decimal number (no units, no trailing text) in range, else AttributeError names it.
// Switches (gradient-checkpointing) are HTML boolean attributes: present means on, and their only
// values are '', 'true' or their own name. `weights` (f32, f16, q8 or nf4) is how the model's
// frozen matrices are stored on the GPU when it is loaded (LoadModelOptions.weightStorage).
import type { WeightStorage } from '../../src/model/gpu-weights.js';
import { DEFAULT_TRAINING_CONFIG, resolveTrainingConfig, type TrainingConfigInput } from '../../src/train/config.js';

export class AttributeError extends Error {
  override name = 'AttributeError';
  constructor(readonly attribute: string, message: string) {
    super(`attribute ${attribute}: ${message}`);
  }
}

interface NumberRule {
  integer: boolean;
  /** Lowest allowed value and whether it is allowed itself. */
  min: number;
  minInclusive: boolean;
  /** Highest allowed value (exclusive) or Infinity. */
  maxExclusive: number;
  describe: string;
}

const POSITIVE_INT: NumberRule = { integer: true, min: 1, minInclusive: true, maxExclusive: Infinity, describe: 'an integer ≥ 1' };
const POSITIVE: NumberRule = { integer: false, min: 0, minInclusive: false, maxExclusive: Infinity, describe: 'a number > 0' };
const FRACTION: NumberRule = { integer: false, min: 0, minInclusive: true, maxExclusive: 1, describe: 'a number in [0, 1)' };

/** The attributes that set training settings, with their rules and their defaults. */
export const TRAINING_ATTRIBUTES = {
  rank: { rule: POSITIVE_INT, fallback: DEFAULT_TRAINING_CONFIG.lora.r },
  alpha: { rule: POSITIVE, fallback: DEFAULT_TRAINING_CONFIG.lora.alpha },
  epochs: { rule: POSITIVE_INT, fallback: DEFAULT_TRAINING_CONFIG.epochs },
  'learning-rate': { rule: POSITIVE, fallback: DEFAULT_TRAINING_CONFIG.learningRate },
  'batch-size': { rule: POSITIVE_INT, fallback: DEFAULT_TRAINING_CONFIG.batchSize },
  'val-split': { rule: FRACTION, fallback: DEFAULT_TRAINING_CONFIG.valSplit },
} as const;

export type TrainingAttribute = keyof typeof TRAINING_ATTRIBUTES;

/** The attributes that switch a training setting on. */
export const SWITCH_ATTRIBUTES = ['gradient-checkpointing'] as const;
export type SwitchAttribute = (typeof SWITCH_ATTRIBUTES)[number];

/** Whether a switch attribute is on (present); throws AttributeError for a value such as "false". */
export function switchAttribute(name: SwitchAttribute, raw: string | null): boolean {
  if (raw === null) return false;
  const text = raw.trim().toLowerCase();
  if (text === '' || text === 'true' || text === name) return true;
  throw new AttributeError(name, `is on when present (leave it out for off), got ${JSON.stringify(raw)}`);
}

/** The values of the `weights` attribute: f32 (the default), f16, and QLoRA's quantized q8 and nf4. */
export const WEIGHTS_VALUES: readonly WeightStorage[] = ['f32', 'f16', 'q8', 'nf4'];

/**
 * The `weights` attribute: how the model's weight matrices are stored, 'f32' (absent), 'f16'
 * (halves), 'q8' (8-bit Q8_0 projections) or 'nf4' (4-bit NF4 projections, QLoRA).
 */
export function weightsAttribute(raw: string | null): WeightStorage {
  if (raw === null) return 'f32';
  const text = raw.trim().toLowerCase();
  const value = WEIGHTS_VALUES.find((v) => v === text);
  if (value) return value;
  throw new AttributeError('weights', `must be one of f32, f16, q8 or nf4, got ${JSON.stringify(raw)}`);
}

/** Steps between the checkpoints a run keeps in the browser when checkpoint-every is absent. */
export const DEFAULT_CHECKPOINT_EVERY = 10;

/** The `checkpoint-every` attribute: steps between checkpoints kept in the browser (an integer ≥ 1; default DEFAULT_CHECKPOINT_EVERY). */
export function checkpointEveryAttribute(raw: string | null): number {
  if (raw === null) return DEFAULT_CHECKPOINT_EVERY;
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (Number.isSafeInteger(n) && n >= 1) return n;
  throw new AttributeError('checkpoint-every', `must be an integer ≥ 1, got ${JSON.stringify(raw)}`);
}

/** A decimal number as people write one: 8, 0.02, .5, 2e-4. Not '', '0x10', '8px', 'Infinity'. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The attribute's value as a number, or its default when absent; throws AttributeError when malformed or out of range. */
export function numberAttribute(name: TrainingAttribute, raw: string | null): number {
  const { rule, fallback } = TRAINING_ATTRIBUTES[name];
  if (raw === null) return fallback;
  const text = raw.trim();
  const value = DECIMAL.test(text) ? Number(text) : NaN;
  const ok = Number.isFinite(value)
    && (!rule.integer || Number.isSafeInteger(value))
    && (rule.minInclusive ? value >= rule.min : value > rule.min)
    && value < rule.maxExclusive;
  if (!ok) throw new AttributeError(name, `must be ${rule.describe}, got ${JSON.stringify(raw)}`);
  return value;
}

/** The training settings the element's attributes give (read through `get`), validated. */
export function trainingConfigFromAttributes(get: (name: string) => string | null): TrainingConfigInput {
  const n = (name: TrainingAttribute) => numberAttribute(name, get(name));
  const config: TrainingConfigInput = {
    epochs: n('epochs'),
    batchSize: n('batch-size'),
    learningRate: n('learning-rate'),
    valSplit: n('val-split'),
    gradientCheckpointing: switchAttribute('gradient-checkpointing', get('gradient-checkpointing')),
    lora: { r: n('rank'), alpha: n('alpha') },
  };
  resolveTrainingConfig(config); // the engine's own checks, so a bad combination fails before any download
  return config;
}
