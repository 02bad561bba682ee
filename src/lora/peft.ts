// PEFT adapter folders: adapter_config.json + adapter_model.safetensors, exactly as PEFT 0.21's
// save_pretrained writes them, so that PeftModel.from_pretrained(base, folder) loads an exported
// adapter unchanged, and adapters trained with PEFT load here.
//
// adapter_model.safetensors holds, for every wrapped module at path P (the module's path in the
// Hugging Face model, e.g. model.layers.0.self_attn.q_proj):
//   base_model.model.P.lora_A.weight  [r, in]
//   base_model.model.P.lora_B.weight  [out, r]
// with metadata {"format": "pt"}. GPT-2's Conv1D layers use the same layouts (PEFT transposes the
// product, not the factors). Only safetensors adapters are read: a pickled adapter_model.bin
// would need a Python unpickler and is refused with a message saying so.
import type { ModelSpec } from '../model/config.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors, type TensorToWrite } from '../model/safetensors.js';
import { readJsonIfExists, type ModelSource } from '../model/source.js';
import { checkAdapterWeights, type LoraAdapter, type LoraFactors } from './adapter.js';
import { peftKey } from './config.js';
import { parsePeftConfig, peftConfigText } from './peft-config.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

export interface PeftFiles {
  'adapter_config.json': Uint8Array;
  'adapter_model.safetensors': Uint8Array;
}

export interface ExportPeftOptions {
  /** The dtype of the saved factors: F32 (default, what PEFT saves from an fp32 model) or F16. */
  dtype?: 'F32' | 'F16';
}

/**
 * The two files of a PEFT adapter folder. `spec` is the base model's (for fan_in_fan_out). An
 * adapter holding a NaN or an infinity is refused (checkAdapterFinite): such a file would load
 * anywhere and turn every output into garbage.
 */
export function exportPeft(adapter: LoraAdapter, spec: ModelSpec, opts: ExportPeftOptions = {}): PeftFiles {
  const dtype = opts.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'F16') throw new Error(`exportPeft: dtype must be F32 or F16, not ${String(dtype)}`);
  checkAdapterWeights(adapter, 'exportPeft');
  checkAdapterFinite(adapter, 'exportPeft');
  const { r } = adapter.config;
  const tensors: TensorToWrite[] = [];
  for (const m of adapter.modules) {
    const w = adapter.weights.get(m.path)!;
    tensors.push({ name: peftKey(m, 'A'), dtype, shape: [r, m.inFeatures], data: w.A });
    tensors.push({ name: peftKey(m, 'B'), dtype, shape: [m.outFeatures, r], data: w.B });
  }
  return {
    'adapter_config.json': new TextEncoder().encode(peftConfigText(adapter.config, adapter.modules, spec, adapter.baseModel)),
    'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
  };
}

/**
 * Throws unless every value of every lora_A and lora_B is finite; the message names the first
 * tensor (by its PEFT key) that is not, the element and its value, after `what`.
 */
export function checkAdapterFinite(adapter: LoraAdapter, what: string): void {
  for (const m of adapter.modules) {
    const w = adapter.weights.get(m.path);
    if (!w) continue; // checkAdapterWeights names a missing module
    for (const factor of ['A', 'B'] as const) {
      const data = w[factor];
      for (let i = 0; i < data.length; i++) {
        if (Number.isFinite(data[i])) continue;
        const cols = factor === 'A' ? m.inFeatures : adapter.config.r;
        throw new Error(
          `${what}: tensor '${peftKey(m, factor)}' holds ${data[i]} at [${Math.floor(i / cols)}, ${i % cols}]; ` +
            'an adapter with NaN or infinite values is never exported (training diverged: lower the learning rate)',
        );
      }
    }
  }
}

/**
 * Read a PEFT LoRA adapter for the model `spec` describes. The config is validated (see
 * ./peft-config.ts); the weights file must hold exactly the lora_A and lora_B of every module the
 * config targets, with the shapes the model and r imply, in F32, F16 or BF16 (widened to f32).
 */
export async function importPeft(source: ModelSource, spec: ModelSpec): Promise<LoraAdapter> {
  const configWhere = `${source.description}/${ADAPTER_CONFIG_FILE}`;
  const json = await readJsonIfExists(source, ADAPTER_CONFIG_FILE);
  // (A file holding JSON null is not missing: parsePeftConfig says it is not an object.)
  if (json === null && !(await source.exists(ADAPTER_CONFIG_FILE))) throw new Error(`${configWhere} is missing; a PEFT adapter folder needs its adapter_config.json`);
  const { config, modules, baseModel } = parsePeftConfig(json, spec, configWhere);

  const where = `${source.description}/${ADAPTER_WEIGHTS_FILE}`;
  if (!(await source.exists(ADAPTER_WEIGHTS_FILE))) {
    const bin = (await source.exists('adapter_model.bin')) ? ' It has adapter_model.bin, a pickled PyTorch file, which is not supported: only safetensors adapters are (PEFT writes safetensors by default; re-save with safe_serialization=True).' : '';
    throw new Error(`${where} is missing.${bin}`);
  }
  const header = await readSafetensorsHeader(source, ADAPTER_WEIGHTS_FILE);
  const expected = new Map<string, number[]>();
  for (const m of modules) {
    expected.set(peftKey(m, 'A'), [config.r, m.inFeatures]);
    expected.set(peftKey(m, 'B'), [m.outFeatures, config.r]);
  }
  for (const name of header.tensors.keys()) {
    if (!expected.has(name)) {
      throw new Error(`${where}: unknown tensor '${name}': it is not the lora_A or lora_B of a module that ${ADAPTER_CONFIG_FILE} targets in this ${spec.modelType} model (r ${config.r})`);
    }
  }
  const weights = new Map<string, LoraFactors>();
  for (const m of modules) {
    const read = async (factor: 'A' | 'B') => {
      const name = peftKey(m, factor);
      const info = header.tensors.get(name);
      const shape = expected.get(name)!;
      if (!info) throw new Error(`${where}: tensor '${name}' is missing; expected shape [${shape.join(', ')}] (module '${m.path}' is targeted by ${ADAPTER_CONFIG_FILE})`);
      if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
        throw new Error(`${where}: tensor '${name}' has dtype ${info.dtype}; LoRA factors must be F32, F16 or BF16`);
      }
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${where}: tensor '${name}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] (r ${config.r}, in ${m.inFeatures}, out ${m.outFeatures})`);
      }
      const data = await readTensorF32(source, header, name);
      // A NaN or an infinity would load and turn every output of the model into garbage.
      const bad = data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) {
        const cols = shape[1];
        throw new Error(`${where}: tensor '${name}' holds ${data[bad]} at [${Math.floor(bad / cols)}, ${bad % cols}]; an adapter with NaN or infinite values is refused`);
      }
      return data;
    };
    weights.set(m.path, { A: await read('A'), B: await read('B') });
  }
  return { config, modules, weights, baseModel };
}
