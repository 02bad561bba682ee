// --adapter: a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) read for the
// model given with --model. An adapter made for another model fails here with both named.
import { existsSync, statSync } from 'node:fs';
import type { LoraAdapter } from '../lora/adapter.js';
import { importPeft } from '../lora/peft.js';
import type { ModelSpec } from '../model/config.js';
import { folderSource } from '../model/source-node.js';
import type { ModelSource } from '../model/source.js';

/** The adapter in folder `dir`, checked against the model of `model` (its spec and source). */
export async function readAdapter(dir: string, spec: ModelSpec, model: ModelSource): Promise<LoraAdapter> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`--adapter '${dir}' is not a folder (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)`);
  try {
    return await importPeft(folderSource(dir), spec);
  } catch (e) {
    const base = await declaredBase(dir);
    const madeFor = base ? `; the adapter names '${base}' as its base model` : '';
    throw new Error(
      `the adapter ${folderSource(dir).description} cannot be used with the model ${model.description} ` +
        `(${spec.modelType}, ${spec.L} layers, width ${spec.C}${madeFor}): ${(e as Error).message}`,
    );
  }
}

/** base_model_name_or_path of the adapter's config, when it can be read. */
async function declaredBase(dir: string): Promise<string | null> {
  try {
    const json = JSON.parse(new TextDecoder().decode(await folderSource(dir).read('adapter_config.json')));
    return typeof json.base_model_name_or_path === 'string' && json.base_model_name_or_path ? json.base_model_name_or_path : null;
  } catch {
    return null;
  }
}
