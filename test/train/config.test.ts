// TrainingConfig defaults and validation: every field checked, each error naming its field.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAINING_CONFIG, resolveTrainingConfig, TrainingConfigError } from '../../src/train/config.js';

describe('TrainingConfig', () => {
  it('has the documented defaults', () => {
    const c = resolveTrainingConfig();
    expect(c).toEqual(DEFAULT_TRAINING_CONFIG);
    expect(c).toMatchObject({
      epochs: 3, maxSteps: null, batchSize: 4, gradientAccumulationSteps: 1, maxLength: 512, learningRate: 2e-4,
      lrSchedule: 'linear', warmupSteps: 0, warmupRatio: 0, seed: 0, valSplit: 0.1, evalEvery: null, trainOnInputs: false,
      gradientCheckpointing: false,
      lora: { r: 16, alpha: 32, targetModules: 'all-linear', useRslora: false, dropout: 0 },
      optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
    });
  });

  it('merges lora and optimizer settings field by field, and ignores undefined values', () => {
    const c = resolveTrainingConfig({ epochs: undefined, lora: { r: 8 }, optimizer: { weightDecay: 0.01 } });
    expect(c.epochs).toBe(3);
    expect(c.lora).toEqual({ ...DEFAULT_TRAINING_CONFIG.lora, r: 8 });
    expect(c.optimizer).toEqual({ ...DEFAULT_TRAINING_CONFIG.optimizer, weightDecay: 0.01 });
    // The defaults object is not changed by resolving.
    expect(DEFAULT_TRAINING_CONFIG.lora.r).toBe(16);
  });

  const bad: Array<[string, object, RegExp]> = [
    ['epochs', { epochs: 0 }, /epochs must be an integer ≥ 1, got 0/],
    ['epochs', { epochs: 1.5 }, /epochs must be an integer/],
    ['maxSteps', { maxSteps: -1 }, /maxSteps must be an integer ≥ 1 or null/],
    ['batchSize', { batchSize: 0 }, /batchSize must be an integer ≥ 1/],
    ['gradientAccumulationSteps', { gradientAccumulationSteps: 2.5 }, /gradientAccumulationSteps must be an integer ≥ 1/],
    ['maxLength', { maxLength: 0 }, /maxLength must be an integer ≥ 1/],
    ['learningRate', { learningRate: 0 }, /learningRate must be a positive number, got 0/],
    ['learningRate', { learningRate: NaN }, /learningRate must be a positive number/],
    ['lrSchedule', { lrSchedule: 'step' }, /lrSchedule must be one of linear, cosine, constant, got "step"/],
    ['warmupSteps', { warmupSteps: -2 }, /warmupSteps must be an integer ≥ 0/],
    ['warmupRatio', { warmupRatio: 1 }, /warmupRatio must be in \[0, 1\)/],
    ['warmupRatio', { warmupSteps: 5, warmupRatio: 0.1 }, /warmupRatio cannot be set together with warmupSteps/],
    ['seed', { seed: 0.5 }, /seed must be an integer/],
    ['valSplit', { valSplit: 1 }, /valSplit must be in \[0, 1\)/],
    ['evalEvery', { evalEvery: 0 }, /evalEvery must be an integer ≥ 1 or null/],
    ['trainOnInputs', { trainOnInputs: 'yes' }, /trainOnInputs must be true or false/],
    ['gradientCheckpointing', { gradientCheckpointing: 1 }, /gradientCheckpointing must be true or false, got 1/],
    ['lora.r', { lora: { r: 0 } }, /lora.r \(the rank\) must be an integer ≥ 1, got 0/],
    ['lora.alpha', { lora: { alpha: -1 } }, /lora.alpha must be a positive number/],
    ['lora.dropout', { lora: { dropout: 1 } }, /lora.dropout must be in \[0, 1\)/],
    ['lora.useRslora', { lora: { useRslora: 1 } }, /lora.useRslora must be true or false/],
    ['lora.targetModules', { lora: { targetModules: [] } }, /lora.targetModules must be 'all-linear' or a non-empty list/],
    ['optimizer.beta1', { optimizer: { beta1: 1 } }, /optimizer.beta1 must be in \[0, 1\)/],
    ['optimizer.beta2', { optimizer: { beta2: -0.1 } }, /optimizer.beta2 must be in \[0, 1\)/],
    ['optimizer.eps', { optimizer: { eps: 0 } }, /optimizer.eps must be a positive number/],
    ['optimizer.weightDecay', { optimizer: { weightDecay: -1 } }, /optimizer.weightDecay must be a number ≥ 0/],
    ['optimizer.maxGradNorm', { optimizer: { maxGradNorm: 0 } }, /optimizer.maxGradNorm must be a positive number or null/],
    ['learnignRate', { learnignRate: 1e-3 }, /learnignRate is not a training setting \(they are: epochs, /],
  ];
  it.each(bad)('rejects a bad %s with an error naming it', (field, input, message) => {
    let err: unknown;
    try {
      resolveTrainingConfig(input as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrainingConfigError);
    expect((err as TrainingConfigError).field).toBe(field);
    expect((err as Error).message).toMatch(/^training config: /);
    expect((err as Error).message).toMatch(message);
  });

  it('accepts null maxSteps / evalEvery / maxGradNorm and a module list', () => {
    const c = resolveTrainingConfig({ maxSteps: null, evalEvery: 5, lora: { targetModules: ['q_proj', 'v_proj'] }, optimizer: { maxGradNorm: null } });
    expect(c.evalEvery).toBe(5);
    expect(c.lora.targetModules).toEqual(['q_proj', 'v_proj']);
    expect(c.optimizer.maxGradNorm).toBeNull();
  });
});
