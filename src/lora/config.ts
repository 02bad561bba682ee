// LoRA settings and the modules they apply to, in PEFT's terms.
//
// A LoRA module wraps a frozen linear layer: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with A [r, in] and B [out, r]
// (PEFT's lora_A.weight / lora_B.weight), s = alpha / r, or alpha / √r with rsLoRA.
// target_modules are matched as PEFT does: a module is targeted when the last component of its
// path equals one of the names (so GPT-2's 'c_proj' selects attn.c_proj and mlp.c_proj).
import type { ModelSpec } from '../model/config.js';
import { layerModuleName, type LayerModule } from '../model/weights.js';

export interface LoraConfig {
  /** Rank r ≥ 1. */
  r: number;
  /** lora_alpha. */
  alpha: number;
  /** Module names (last path component), or 'all-linear': every linear projection but the LM head. */
  targetModules: string[] | 'all-linear';
  /** Scale alpha/√r instead of alpha/r. */
  useRslora: boolean;
  /** Dropout on the LoRA input during training (0 = none). */
  dropout: number;
}

export const DEFAULT_LORA: LoraConfig = { r: 16, alpha: 32, targetModules: 'all-linear', useRslora: false, dropout: 0 };

/** The projections of a layer that LoRA can wrap; 'qkv' is GPT-2's fused attn.c_attn. */
export type LoraKind = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down' | 'qkv';

export interface LoraModule {
  /** The module's path in the Hugging Face model, e.g. model.layers.0.self_attn.q_proj. */
  path: string;
  layer: number;
  kind: LoraKind;
  inFeatures: number;
  outFeatures: number;
}

export function loraScale(c: LoraConfig): number {
  return c.useRslora ? c.alpha / Math.sqrt(c.r) : c.alpha / c.r;
}

/** PEFT's adapter key prefix of a module: base_model.model.<path>.lora_A.weight etc. */
export function peftKey(m: LoraModule, factor: 'A' | 'B'): string {
  return `base_model.model.${m.path}.lora_${factor}.weight`;
}

export function validateLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.r) || c.r < 1) throw new Error(`LoRA rank r must be an integer ≥ 1, got ${c.r}`);
  if (!(Number.isFinite(c.alpha) && c.alpha > 0)) throw new Error(`lora_alpha must be a positive number, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`lora_dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targetModules !== 'all-linear' && c.targetModules.length === 0) throw new Error('LoRA target_modules is empty');
}

/** The linear modules of one layer: kind, the LayerWeights field naming its path, in and out features. */
function layerLinears(spec: ModelSpec): Array<{ kind: LoraKind; field: LayerModule; inF: number; outF: number }> {
  const { C, NH, KV, HS, F } = spec;
  if (spec.arch === 'gpt2') {
    return [
      { kind: 'qkv', field: 'q', inF: C, outF: 3 * C },
      { kind: 'o', field: 'o', inF: C, outF: C },
      { kind: 'up', field: 'up', inF: C, outF: F },
      { kind: 'down', field: 'down', inF: F, outF: C },
    ];
  }
  return [
    { kind: 'q', field: 'q', inF: C, outF: NH * HS },
    { kind: 'k', field: 'k', inF: C, outF: KV * HS },
    { kind: 'v', field: 'v', inF: C, outF: KV * HS },
    { kind: 'o', field: 'o', inF: NH * HS, outF: C },
    { kind: 'gate', field: 'gate', inF: C, outF: F },
    { kind: 'up', field: 'up', inF: C, outF: F },
    { kind: 'down', field: 'down', inF: F, outF: C },
  ];
}

/** The names target_modules can use for this architecture (the last path components). */
export function targetableNames(spec: ModelSpec): string[] {
  return [...new Set(layerLinears(spec).map((l) => layerModuleName(spec, 0, l.field)!.split('.').pop()!))];
}

/**
 * Every module the config targets, layer by layer in the model's order. Unknown names are an
 * error listing the names this architecture has.
 */
export function resolveLoraModules(spec: ModelSpec, c: LoraConfig): LoraModule[] {
  validateLoraConfig(c);
  const names = targetableNames(spec);
  const wanted = c.targetModules === 'all-linear' ? names : c.targetModules;
  const unknown = wanted.filter((n) => !names.includes(n));
  if (unknown.length) {
    throw new Error(`LoRA target module${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} not in this ${spec.modelType} model; it has ${names.join(', ')} (or use all-linear)`);
  }
  const modules: LoraModule[] = [];
  for (let layer = 0; layer < spec.L; layer++) {
    for (const l of layerLinears(spec)) {
      const path = layerModuleName(spec, layer, l.field)!;
      if (wanted.includes(path.split('.').pop()!)) modules.push({ path, layer, kind: l.kind, inFeatures: l.inF, outFeatures: l.outF });
    }
  }
  return modules;
}
