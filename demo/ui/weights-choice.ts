// The weights format of the model panel, without the DOM: the training memory of the chosen model
// with each storage of its frozen matrices (f32, f16, q8, nf4: LoadModelOptions.weightStorage),
// whether each fits this GPU, and the format to propose.
//
// "Fits" is judged as the engine's estimateMemory judges it: the largest single buffer within the
// smaller of the adapter's maxBufferSize and maxStorageBufferBindingSize (vocabulary matrices are
// planned in blocks of that size, as the device allocates them). WebGPU does not say how much
// memory a GPU has, so the total is checked only against the budget the person gives ("GPU memory
// to use"), when they give one.
//
// The rule (proposeWeights): the formats in order of precision are f32, f16, q8, nf4. The format
// the person prefers (the demo's default f32, or what they last chose) stays selected when it fits.
// When it does not, the most precise format that fits and is no more precise than it is proposed:
// q8 before nf4 when both fit (8 bits a weight keep answers closer to f16's than 4), so nf4 is
// proposed when it is the only one that fits. When nothing fits, the choice is left as it is, with
// a warning. A choice the person made themselves is never changed (`keep`); the message then says
// which format would fit.
import type { ModelSpec } from '../../src/model/config.js';
import type { WeightStorage } from '../../src/model/gpu-weights.js';
import { resolveTrainingConfig, type TrainingConfigInput } from '../../src/train/config.js';
import { estimateTrainingMemory } from '../../src/train/memory.js';

/** The formats, most precise first (the order of the control and of the rule). */
export const WEIGHT_FORMATS: readonly WeightStorage[] = ['f32', 'f16', 'q8', 'nf4'];

/** The demo's default (the page loaded f32 weights before there was a choice). */
export const DEFAULT_WEIGHTS: WeightStorage = 'f32';

/** How each format reads in sentences. */
export const FORMAT_NAMES: Record<WeightStorage, string> = {
  f32: 'f32',
  f16: 'f16',
  q8: '8-bit Q8_0',
  nf4: '4-bit NF4',
};

/** How each format reads in the control. */
export const FORMAT_LABELS: Record<WeightStorage, string> = {
  f32: 'f32 (as trained in full precision)',
  f16: 'f16 (half the memory, answers differ slightly)',
  q8: 'q8 (8-bit Q8_0 projections)',
  nf4: 'nf4 (4-bit NF4 projections, QLoRA)',
};

/** The adapter's limits that the estimate is judged by (GpuInfo.limits). */
export interface GpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export interface FormatEstimate {
  format: WeightStorage;
  /** Bytes of GPU memory a training run takes (weights, adapter with optimizer, activations). */
  total: number;
  largestBufferBytes: number;
  /** Whether it fits the limits (and the budget, when one is given); null without limits. */
  fits: boolean | null;
  /** Why it does not fit; '' when it does (or is not judged). */
  why: string;
}

export type FormatEstimates = Record<WeightStorage, FormatEstimate>;

/** GiB with two decimals; MiB, with one decimal below 10 MiB. */
export function memorySize(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  const m = bytes / 2 ** 20;
  return m < 10 ? `${m.toFixed(1)} MiB` : `${Math.round(m)} MiB`;
}

/**
 * The estimate of every format for training `spec` with `config` (batches of batchSize ×
 * min(maxLength, positions) tokens), judged against `limits` and `budgetBytes` (null: none).
 * Throws when the settings are invalid or the model cannot be estimated.
 */
export function estimateFormats(spec: ModelSpec, config: TrainingConfigInput, limits: GpuLimits | null, budgetBytes: number | null = null): FormatEstimates {
  const c = resolveTrainingConfig(config);
  const T = Math.min(c.maxLength, spec.maxPositions);
  const perBuffer = limits ? Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize) : undefined;
  const out = {} as FormatEstimates;
  for (const format of WEIGHT_FORMATS) {
    const e = estimateTrainingMemory(spec, c.lora, c.batchSize, T, { weightStorage: format, gradientCheckpointing: c.gradientCheckpointing, maxBindingBytes: perBuffer });
    out[format] = judge(format, e.total, e.largestBufferBytes, limits, budgetBytes);
  }
  return out;
}

/** An estimate judged against the limits and the budget. */
export function judge(format: WeightStorage, total: number, largestBufferBytes: number, limits: GpuLimits | null, budgetBytes: number | null): FormatEstimate {
  if (!limits) return { format, total, largestBufferBytes, fits: null, why: '' };
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const why =
    largestBufferBytes > perBuffer
      ? `a buffer of ${memorySize(largestBufferBytes)} exceeds this GPU's ${memorySize(perBuffer)} per buffer`
      : budgetBytes !== null && total > budgetBytes
        ? `≈ ${memorySize(total)} is more than the ${memorySize(budgetBytes)} of GPU memory to use`
        : '';
  return { format, total, largestBufferBytes, fits: why === '', why };
}

export interface WeightsChoice {
  /** The format to select. */
  format: WeightStorage;
  /**
   * 'fits': the preferred format fits; 'proposed': another one was chosen, which fits; 'warning':
   * the selected format does not fit; 'unknown': not judged (no estimate or no limits).
   */
  state: 'fits' | 'proposed' | 'warning' | 'unknown';
  /** One sentence saying why ('' for 'fits' and 'unknown'). */
  message: string;
}

/**
 * The format to select given the one preferred and the estimates (null: none), by the rule in
 * this file's header. `keep`: the person chose `preferred` themselves; it stays selected.
 */
export function proposeWeights(preferred: WeightStorage, estimates: FormatEstimates | null, keep = false): WeightsChoice {
  const mine = estimates?.[preferred];
  if (!estimates || !mine || mine.fits === null) return { format: preferred, state: 'unknown', message: '' };
  if (mine.fits) return { format: preferred, state: 'fits', message: '' };
  const smaller = WEIGHT_FORMATS.slice(WEIGHT_FORMATS.indexOf(preferred) + 1);
  const fitting = smaller.find((f) => estimates[f].fits === true);
  const fix = 'lower the batch size or max length, or turn on gradient checkpointing';
  if (!fitting) {
    const last = estimates[WEIGHT_FORMATS[WEIGHT_FORMATS.length - 1]];
    const even = last.format === preferred ? `${FORMAT_NAMES[preferred]}: ${mine.why}` : `even ${FORMAT_NAMES[last.format]}: ${last.why}`;
    return { format: preferred, state: 'warning', message: `⚠ No weights format fits this GPU's limits (${even}): ${fix}.` };
  }
  if (keep) {
    return { format: preferred, state: 'warning', message: `⚠ ${FORMAT_NAMES[preferred]} weights do not fit this GPU's limits (${mine.why}); ${fitting} would (≈ ${memorySize(estimates[fitting].total)}).` };
  }
  const only = WEIGHT_FORMATS.every((f) => f === fitting || estimates[f].fits !== true);
  const message =
    fitting === 'nf4' && only
      ? `Only 4-bit NF4 weights fit this GPU's limits: selected (${FORMAT_NAMES[preferred]} weights: ${mine.why}).`
      : `${FORMAT_NAMES[preferred]} weights do not fit this GPU's limits (${mine.why}); ${FORMAT_NAMES[fitting]}, the most precise format that fits, is selected.`;
  return { format: fitting, state: 'proposed', message };
}

/** The control's label of one format: its name, its estimate and whether it fits. */
export function formatOptionLabel(e: FormatEstimate | null, format: WeightStorage): string {
  if (!e) return FORMAT_LABELS[format];
  const verdict = e.fits === null ? '' : e.fits ? ', fits' : ', does not fit';
  return `${FORMAT_LABELS[format]}: ≈ ${memorySize(e.total)}${verdict}`;
}

/** A budget as typed ("GPU memory to use", in GiB): bytes, null when blank; throws when it is not a number > 0. */
export function parseBudget(text: string): number | null {
  const s = text.trim();
  if (s === '') return null;
  const gib = Number(s);
  if (!Number.isFinite(gib) || gib <= 0) throw new Error(`GPU memory to use must be a number of GiB > 0 (or blank), got "${s}"`);
  return gib * 2 ** 30;
}
