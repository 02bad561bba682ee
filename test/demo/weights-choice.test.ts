// The demo's weights format choice (demo/ui/weights-choice.ts), without a browser: the estimate of
// every format from the engine's estimateTrainingMemory (smaller for each less precise format),
// judged against the adapter's per-buffer limits and a GPU memory budget; and the rule that picks
// the format: the preferred one when it fits, else the most precise one that fits (q8 before
// nf4, so nf4 only when it alone fits), the preferred one with a warning when nothing fits, and
// a choice the person made kept as it is.
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../../demo/ui/model-catalog.js';
import {
  estimateFormats,
  formatOptionLabel,
  judge,
  memorySize,
  parseBudget,
  proposeWeights,
  WEIGHT_FORMATS,
  type FormatEstimates,
  type GpuLimits,
} from '../../demo/ui/weights-choice.js';
import type { WeightStorage } from '../../src/model/gpu-weights.js';
import { parseModelConfig } from '../../src/model/config.js';
import { resolveTrainingConfig } from '../../src/train/config.js';
import { estimateTrainingMemory } from '../../src/train/memory.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const WIDE: GpuLimits = { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 2 * GiB };

/** Estimates whose fits are given per format (totals 400, 200, 110, 60 MiB; buffers small). */
function estimates(fits: Record<WeightStorage, boolean>): FormatEstimates {
  const totals: Record<WeightStorage, number> = { f32: 400 * MiB, f16: 200 * MiB, q8: 110 * MiB, nf4: 60 * MiB };
  const out = {} as FormatEstimates;
  for (const f of WEIGHT_FORMATS) out[f] = { format: f, total: totals[f], largestBufferBytes: MiB, fits: fits[f], why: fits[f] ? '' : `≈ ${memorySize(totals[f])} is more than the 100 MiB of GPU memory to use` };
  return out;
}

describe('weights format proposal', () => {
  it('keeps the preferred format when it fits', () => {
    const all = estimates({ f32: true, f16: true, q8: true, nf4: true });
    expect(proposeWeights('f32', all)).toEqual({ format: 'f32', state: 'fits', message: '' });
    expect(proposeWeights('nf4', all)).toEqual({ format: 'nf4', state: 'fits', message: '' });
    // Nothing is proposed without estimates, or without the adapter's limits to judge them by.
    expect(proposeWeights('f16', null)).toEqual({ format: 'f16', state: 'unknown', message: '' });
    const unjudged = estimates({ f32: true, f16: true, q8: true, nf4: true });
    for (const f of WEIGHT_FORMATS) unjudged[f].fits = null;
    expect(proposeWeights('f32', unjudged).state).toBe('unknown');
  });

  it('proposes nf4 when only nf4 fits, and says so in one sentence', () => {
    const r = proposeWeights('f32', estimates({ f32: false, f16: false, q8: false, nf4: true }));
    expect(r.format).toBe('nf4');
    expect(r.state).toBe('proposed');
    expect(r.message).toBe("Only 4-bit NF4 weights fit this GPU's limits: selected (f32 weights: ≈ 400 MiB is more than the 100 MiB of GPU memory to use).");
    expect(proposeWeights('q8', estimates({ f32: false, f16: false, q8: false, nf4: true })).format).toBe('nf4');
  });

  it('prefers q8 to nf4 when both fit but f16 does not (the most precise format that fits)', () => {
    const r = proposeWeights('f32', estimates({ f32: false, f16: false, q8: true, nf4: true }));
    expect(r).toEqual({
      format: 'q8',
      state: 'proposed',
      message: "f32 weights do not fit this GPU's limits (≈ 400 MiB is more than the 100 MiB of GPU memory to use); 8-bit Q8_0, the most precise format that fits, is selected.",
    });
    expect(proposeWeights('f32', estimates({ f32: false, f16: true, q8: true, nf4: true })).format).toBe('f16');
    // Never more precise than the preferred format.
    expect(proposeWeights('q8', estimates({ f32: true, f16: true, q8: false, nf4: true })).format).toBe('nf4');
  });

  it('leaves the format as it is, with a warning, when nothing fits', () => {
    const r = proposeWeights('f32', estimates({ f32: false, f16: false, q8: false, nf4: false }));
    expect(r.format).toBe('f32');
    expect(r.state).toBe('warning');
    expect(r.message).toBe("⚠ No weights format fits this GPU's limits (even 4-bit NF4: ≈ 60 MiB is more than the 100 MiB of GPU memory to use): lower the batch size or max length, or turn on gradient checkpointing.");
    expect(proposeWeights('nf4', estimates({ f32: false, f16: false, q8: false, nf4: false })).message).toMatch(/^⚠ No weights format fits this GPU's limits \(4-bit NF4: ≈ 60 MiB is more/);
  });

  it("keeps a format the person chose, saying which would fit", () => {
    const r = proposeWeights('f32', estimates({ f32: false, f16: false, q8: false, nf4: true }), true);
    expect(r.format).toBe('f32');
    expect(r.state).toBe('warning');
    expect(r.message).toBe("⚠ f32 weights do not fit this GPU's limits (≈ 400 MiB is more than the 100 MiB of GPU memory to use); nf4 would (≈ 60 MiB).");
    expect(proposeWeights('f16', estimates({ f32: true, f16: true, q8: true, nf4: true }), true).state).toBe('fits');
  });
});

describe('weights format estimates', () => {
  const smol = parseModelConfig(CATALOG[0].config, 'smol');
  const config = { batchSize: 4, maxLength: 512 };

  it("are the engine's estimates for each format, smaller for each less precise one", () => {
    const e = estimateFormats(smol, config, WIDE);
    const c = resolveTrainingConfig(config);
    for (const f of WEIGHT_FORMATS) {
      const engine = estimateTrainingMemory(smol, c.lora, 4, 512, { weightStorage: f, gradientCheckpointing: c.gradientCheckpointing, maxBindingBytes: 2 * GiB });
      expect(e[f].total, f).toBe(engine.total);
      expect(e[f].largestBufferBytes, f).toBe(engine.largestBufferBytes);
      expect(e[f]).toMatchObject({ format: f, fits: true, why: '' });
    }
    expect(e.f16.total).toBeLessThan(e.f32.total);
    expect(e.q8.total).toBeLessThan(e.f16.total);
    expect(e.nf4.total).toBeLessThan(e.q8.total);
    // Without limits nothing is judged.
    expect(estimateFormats(smol, config, null).f32.fits).toBeNull();
  });

  it('fit within the budget given: between nf4 and q8, only nf4 fits and is proposed', () => {
    const wide = estimateFormats(smol, config, WIDE);
    const budget = (wide.nf4.total + wide.q8.total) / 2;
    const e = estimateFormats(smol, config, WIDE, budget);
    expect(WEIGHT_FORMATS.map((f) => e[f].fits)).toEqual([false, false, false, true]);
    expect(e.f32.why).toBe(`≈ ${memorySize(wide.f32.total)} is more than the ${memorySize(budget)} of GPU memory to use`);
    const r = proposeWeights('f32', e);
    expect(r.format).toBe('nf4');
    expect(r.message).toMatch(/^Only 4-bit NF4 weights fit this GPU's limits: selected/);
    expect(formatOptionLabel(e.nf4, 'nf4')).toBe(`nf4 (4-bit NF4 projections, QLoRA): ≈ ${memorySize(e.nf4.total)}, fits`);
    expect(formatOptionLabel(e.f32, 'f32')).toMatch(/^f32 \(as trained in full precision\): ≈ [\d.]+ (GiB|MiB), does not fit$/);
  });

  it("judge a buffer larger than the adapter's per-buffer limit as not fitting", () => {
    const small: GpuLimits = { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB };
    expect(judge('f32', GiB, 200 * MiB, small, null)).toEqual({ format: 'f32', total: GiB, largestBufferBytes: 200 * MiB, fits: false, why: "a buffer of 200 MiB exceeds this GPU's 128 MiB per buffer" });
    expect(judge('nf4', GiB, 100 * MiB, small, null).fits).toBe(true);
    expect(judge('nf4', GiB, 100 * MiB, small, 512 * MiB).why).toBe('≈ 1.00 GiB is more than the 512 MiB of GPU memory to use');
  });

  it('read the budget in GiB, blank for none', () => {
    expect(parseBudget('')).toBeNull();
    expect(parseBudget(' 4 ')).toBe(4 * GiB);
    expect(parseBudget('0.5')).toBe(GiB / 2);
    expect(() => parseBudget('0')).toThrow(/GPU memory to use must be a number of GiB > 0 \(or blank\), got "0"/);
    expect(() => parseBudget('lots')).toThrow(/got "lots"/);
    expect([memorySize(3 * GiB), memorySize(200 * MiB), memorySize(4.25 * MiB)]).toEqual(['3.00 GiB', '200 MiB', '4.3 MiB']);
  });
});
