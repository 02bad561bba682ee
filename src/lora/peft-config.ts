// adapter_config.json, as PEFT 0.21 writes and reads it.
//
// Writing: every field that LoraConfig.save_pretrained writes, with PEFT's defaults for the ones
// this engine does not use, serialised as Python's json.dumps(d, indent=2, sort_keys=True) does
// (which is what PEFT calls): two-space indent, keys sorted, ", "/": " separators, non-ASCII
// escaped as \uXXXX, floats in Python's repr (0.0, 1e-05), no trailing newline.
//
// Reading: the fields that change what an adapter computes are checked; those this engine does not
// implement (DoRA, biases, rank/alpha patterns, per-layer targeting, ...) are refused by name
// rather than silently ignored.
import { backtrackingRisk } from '../text/regex-risk.js';
import type { ModelSpec } from '../model/config.js';
import { isConv1D } from '../model/weights.js';
import { resolveLoraModules, type LoraConfig, type LoraModule } from './config.js';

export const PEFT_VERSION = '0.21.0';

/** Python's repr of a float: shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  const [mantissa, expPart] = x.toExponential().split('e'); // shortest digits, e.g. "1.5e-7"
  const exp = Number(expPart);
  if (exp >= -4 && exp < 16) {
    const s = String(x); // JS uses fixed notation in this whole range, with the same digits
    return /[.e]/.test(s) ? s : `${s}.0`;
  }
  const digits = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : String(Math.abs(exp));
  return `${mantissa}e${exp < 0 ? '-' : '+'}${digits}`;
}

/** A value for pythonJson that is written as a Python float even when it is integral. */
export class PyFloat {
  constructor(readonly value: number) {}
}

type PyJson = null | boolean | number | string | PyFloat | PyJson[] | { [k: string]: PyJson };

/** json.dumps(value, indent=2, sort_keys=True) with ensure_ascii, for the values above. */
export function pythonJson(value: PyJson, indent = ''): string {
  const inner = `${indent}  `;
  if (value === null) return 'null';
  if (value instanceof PyFloat) return pythonFloat(value.value);
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pythonFloat(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + pythonJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${inner}${pythonJson(k)}: ${pythonJson(value[k], inner)}`).join(',\n')}\n${indent}}`;
}

/** The distinct last path components of the modules, sorted: the explicit target_modules list. */
export function targetModuleNames(modules: LoraModule[]): string[] {
  return [...new Set(modules.map((m) => m.path.split('.').pop()!))].sort();
}

/** adapter_config.json's text for an adapter with these settings and modules. */
export function peftConfigText(config: LoraConfig, modules: LoraModule[], spec: ModelSpec, baseModel: string): string {
  const fields: Record<string, PyJson> = {
    // The fields this engine sets.
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: new PyFloat(config.dropout),
    use_rslora: config.useRslora,
    target_modules: targetModuleNames(modules),
    // GPT-2 stores its linear layers as Conv1D, weight [in, out]; PEFT records that here.
    fan_in_fan_out: isConv1D(spec),
    base_model_name_or_path: baseModel,
    task_type: 'CAUSAL_LM',
    peft_type: 'LORA',
    inference_mode: true,
    peft_version: PEFT_VERSION,
    // PEFT 0.21's defaults for everything else, as its LoraConfig writes them.
    alora_invocation_tokens: null,
    alpha_pattern: {},
    arrow_config: null,
    auto_mapping: null,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    init_lora_weights: true,
    kasa_config: null,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_bias: false,
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    monteclora_config: null,
    qalora_group_size: 16,
    rank_pattern: {},
    revision: null,
    target_parameters: null,
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: false,
    use_qalora: false,
    velora_config: null,
  };
  return pythonJson(fields);
}

// ---- Reading ----------------------------------------------------------------------------------

/** A value of the file as an error message shows it: JSON, cut short (a file may hold megabytes in one field). */
const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
};

/** A value that leaves a feature off: absent, null, false, an empty list or object. */
function isOff(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v as object).length === 0;
}

/** Fields that change the adapter's computation in ways this engine does not implement. */
const UNSUPPORTED: Array<[field: string, what: string]> = [
  ['use_dora', 'DoRA (weight-decomposed LoRA)'],
  ['lora_bias', 'LoRA biases on lora_B'],
  ['modules_to_save', 'fully trained extra modules'],
  ['rank_pattern', 'per-module ranks'],
  ['alpha_pattern', 'per-module alphas'],
  ['layers_to_transform', 'LoRA on only some layers'],
  ['exclude_modules', 'excluded modules'],
  ['target_parameters', 'LoRA on parameters rather than modules'],
  ['layer_replication', 'layer replication'],
  ['trainable_token_indices', 'trainable token embeddings'],
  ['alora_invocation_tokens', 'activated LoRA (aLoRA)'],
  ['use_qalora', 'QA-LoRA'],
  ['use_bdlora', 'BD-LoRA'],
  ['arrow_config', 'Arrow routing'],
  ['megatron_config', 'Megatron parallel layers'],
];

/** init_lora_weights values whose adapters assume base weights changed at init (residual models). */
const BASE_CHANGING_INITS = ['pissa', 'olora', 'corda', 'loftq'];

/**
 * The LoRA settings of a parsed adapter_config.json and the modules they select in this model.
 * `where` (the file's path) is named in every error.
 */
export function parsePeftConfig(json: unknown, spec: ModelSpec, where: string): { config: LoraConfig; modules: LoraModule[]; baseModel: string } {
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('not a JSON object');
  const c = json as Record<string, unknown>;
  if (c.peft_type !== 'LORA') fail(`peft_type is ${show(c.peft_type)}; only LoRA adapters ("LORA") are supported`);
  for (const [field, what] of UNSUPPORTED) {
    if (!isOff(c[field])) fail(`${field} is ${show(c[field])}: ${what} is not supported`);
  }
  if (c.bias !== undefined && c.bias !== 'none') fail(`bias is ${show(c.bias)}: training biases is not supported (only "none")`);
  const init = typeof c.init_lora_weights === 'string' ? c.init_lora_weights.toLowerCase() : '';
  if (BASE_CHANGING_INITS.some((p) => init.startsWith(p))) {
    fail(`init_lora_weights is ${show(c.init_lora_weights)}: that initialisation changes the base weights and is not supported`);
  }
  if (c.task_type !== undefined && c.task_type !== null && c.task_type !== 'CAUSAL_LM') {
    fail(`task_type is ${show(c.task_type)}; only causal language models ("CAUSAL_LM") are supported`);
  }
  // PEFT's own defaults where a field is absent: r 8, lora_alpha 8, dropout 0, no rsLoRA.
  const r = c.r ?? 8;
  if (!Number.isSafeInteger(r) || (r as number) < 1) fail(`r must be a positive integer, not ${show(r)}`);
  const alpha = c.lora_alpha ?? 8;
  // (JSON.parse reads 1e999 as Infinity, and Infinity > 0.)
  if (typeof alpha !== 'number' || !(alpha > 0 && Number.isFinite(alpha))) fail(`lora_alpha must be a positive number, not ${show(alpha)}`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail(`lora_dropout must be a number in [0, 1), not ${show(dropout)}`);
  const useRslora = c.use_rslora ?? false;
  if (typeof useRslora !== 'boolean') fail(`use_rslora must be true or false, not ${show(useRslora)}`);
  const baseModel = c.base_model_name_or_path ?? '';
  if (typeof baseModel !== 'string') fail(`base_model_name_or_path must be a string or null, not ${show(baseModel)}`);
  // fan_in_fan_out is not read: PEFT overrides it per layer (true for Conv1D, false for nn.Linear),
  // so the saved A and B have the same layouts either way.
  const base = { r: r as number, alpha: alpha as number, dropout: dropout as number, useRslora: useRslora as boolean };
  const { targetModules, modules } = selectModules(c.target_modules, spec, base, fail);
  return { config: { ...base, targetModules }, modules, baseModel: baseModel as string };
}

/**
 * target_modules as PEFT matches it against module paths: a string other than 'all-linear' is a
 * regular expression that must match the whole path; a list matches a path equal to an entry or
 * ending in '.' + an entry. The selection must be expressible as a list of last path components
 * (the same modules in every layer), which is what this engine's LoraConfig holds.
 */
function selectModules(
  target: unknown,
  spec: ModelSpec,
  base: Omit<LoraConfig, 'targetModules'>,
  fail: (msg: string) => never,
): { targetModules: LoraConfig['targetModules']; modules: LoraModule[] } {
  const resolve = (targetModules: LoraConfig['targetModules']) => {
    try {
      return resolveLoraModules(spec, { ...base, targetModules });
    } catch (e) {
      return fail(`target_modules: ${(e as Error).message}`);
    }
  };
  if (target === 'all-linear') return { targetModules: 'all-linear', modules: resolve('all-linear') };
  const all = resolve('all-linear');
  let matches: (path: string) => boolean;
  if (typeof target === 'string') {
    const risk = backtrackingRisk(target);
    if (risk) return fail(`target_modules ${show(target)} is a regular expression whose matching time cannot be bounded (${risk}); list the module names instead`);
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${target})$`);
    } catch (e) {
      return fail(`target_modules ${show(target)} is not a regular expression this engine can read (${(e as Error).message})`);
    }
    matches = (path) => re.test(path);
  } else if (Array.isArray(target) && target.length > 0 && target.every((t) => typeof t === 'string')) {
    const list = target as string[];
    // A name that no projection has (lm_head, embed_tokens, a typo) is an error naming the choices.
    const unmatched = list.filter((t) => !all.some((m) => m.path === t || m.path.endsWith(`.${t}`)));
    if (unmatched.length) resolve(unmatched);
    matches = (path) => list.some((t) => path === t || path.endsWith(`.${t}`));
  } else {
    return fail(`target_modules must be a non-empty list of module names or a regular expression, not ${show(target)}`);
  }
  const chosen = all.filter((m) => matches(m.path));
  if (chosen.length === 0) fail(`target_modules ${show(target)} selects none of this model's linear projections`);
  const names = targetModuleNames(chosen);
  const modules = resolve(names);
  // Every chosen path has one of these names, so the two sets are equal unless one is missing.
  const chosenPaths = new Set(chosen.map((m) => m.path));
  const missed = modules.find((m) => !chosenPaths.has(m.path));
  if (missed) {
    fail(`target_modules ${show(target)} selects some '${missed.path.split('.').pop()}' modules but not '${missed.path}': LoRA on only some layers is not supported`);
  }
  return { targetModules: names, modules };
}
