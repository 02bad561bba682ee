// The <lora-trainer> element's training attributes (demo/widget/attributes.ts), read without a
// DOM: the gradient-checkpointing switch is on when present and refuses values that read as off;
// `weights` is f32 when absent, f32, f16, q8 or nf4 when given, and an error naming it and the
// allowed values otherwise.
import { describe, expect, it } from 'vitest';
import { AttributeError, checkpointEveryAttribute, DEFAULT_CHECKPOINT_EVERY, trainingConfigFromAttributes, weightsAttribute } from '../../demo/widget/attributes.js';

const read = (attrs: Record<string, string>) => trainingConfigFromAttributes((n) => attrs[n] ?? null);

describe('<lora-trainer> attributes', () => {
  it('turns gradient checkpointing on when the attribute is present, off when absent', () => {
    expect(read({}).gradientCheckpointing).toBe(false);
    for (const value of ['', 'true', 'gradient-checkpointing']) expect(read({ 'gradient-checkpointing': value }).gradientCheckpointing).toBe(true);
    expect(() => read({ 'gradient-checkpointing': 'false' })).toThrow(AttributeError);
    expect(() => read({ 'gradient-checkpointing': 'no' })).toThrow(/attribute gradient-checkpointing: is on when present \(leave it out for off\), got "no"/);
  });

  it('reads weights as f32 (absent), f32, f16, q8 or nf4, and names the attribute and its values for anything else', () => {
    expect(weightsAttribute(null)).toBe('f32');
    expect(weightsAttribute(' F16 ')).toBe('f16');
    expect(weightsAttribute('f32')).toBe('f32');
    expect(weightsAttribute('nf4')).toBe('nf4');
    expect(weightsAttribute('Q8')).toBe('q8');
    expect(() => weightsAttribute('bf16')).toThrow(AttributeError);
    expect(() => weightsAttribute('bf16')).toThrow(/attribute weights: must be one of f32, f16, q8 or nf4, got "bf16"/);
    expect(() => weightsAttribute('int4')).toThrow(/attribute weights: must be one of f32, f16, q8 or nf4, got "int4"/);
  });

  it('reads checkpoint-every as an integer ≥ 1, 10 when absent, and names the attribute otherwise', () => {
    expect(checkpointEveryAttribute(null)).toBe(DEFAULT_CHECKPOINT_EVERY);
    expect(DEFAULT_CHECKPOINT_EVERY).toBe(10);
    expect(checkpointEveryAttribute(' 2 ')).toBe(2);
    for (const bad of ['0', '-1', '2.5', '', 'ten', '1e3']) {
      expect(() => checkpointEveryAttribute(bad), bad).toThrow(`attribute checkpoint-every: must be an integer ≥ 1, got ${JSON.stringify(bad)}`);
    }
  });
});
