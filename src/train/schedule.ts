// Learning-rate schedules, exactly as transformers' get_*_schedule_with_warmup compute them.
//
// Each schedule is a factor f(k) of the peak learning rate; optimizer step k (0-based: the first
// update is k = 0) uses lr = peak · f(k), as torch's LambdaLR does before its first step(). With W
// warmup steps and N total steps:
//   warmup (k < W):  f(k) = k / max(1, W)                    (so step 0 has lr 0 when W > 0)
//   constant:        f(k) = 1
//   linear:          f(k) = max(0, (N − k) / max(1, N − W))
//   cosine:          p = (k − W) / max(1, N − W),  f(k) = max(0, ½·(1 + cos(π·p)))
// (cosine is transformers' num_cycles = 0.5: half a cosine wave, from 1 down to 0 at k = N.)

export type LrSchedule = 'linear' | 'cosine' | 'constant';

export const LR_SCHEDULES: readonly LrSchedule[] = ['linear', 'cosine', 'constant'];

/** Warmup steps as transformers' get_warmup_steps: the count when > 0, else ⌈N · ratio⌉. */
export function warmupStepCount(totalSteps: number, warmupSteps: number, warmupRatio: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

/** The factor f(k) of the peak learning rate at optimizer step k (0-based). */
export function lrFactor(schedule: LrSchedule, step: number, totalSteps: number, warmup: number): number {
  if (step < warmup) return step / Math.max(1, warmup);
  switch (schedule) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
    case 'cosine': {
      const progress = (step - warmup) / Math.max(1, totalSteps - warmup);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
    default:
      throw new Error(`unknown learning-rate schedule '${String(schedule)}' (use ${LR_SCHEDULES.join(', ')})`);
  }
}

/** The learning rate of optimizer step k (0-based): peak · f(k). */
export function learningRateAt(
  s: { learningRate: number; lrSchedule: LrSchedule },
  step: number,
  totalSteps: number,
  warmup: number,
): number {
  return s.learningRate * lrFactor(s.lrSchedule, step, totalSteps, warmup);
}
