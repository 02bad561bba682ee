// The golden LoRA cases of ../shared/golden, ../shared/golden-arch (the newer architectures) and
// ../shared/golden-quant (quantized frozen weights, no merged files; the same format, see
// golden/README.md): where each case's files and base model are, and its
// adapter after five AdamW steps as a PEFT adapter folder in memory.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../../src/model/config.js';
import { loadModelSpec } from '../../src/model/config.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { memorySource, type ModelSource } from '../../src/model/source.js';
import { SHARED_DIR } from '../helpers.js';

/** The folders of ../shared that hold golden cases. */
export const GOLDEN_DIRS = ['golden', 'golden-arch', 'golden-quant'];

/** The cases of ../shared/golden, then those of ../shared/golden-arch (Gemma 3, Llama-3 RoPE, SmolLM3). */
export const GOLDEN_CASES = ['stories260K-all-linear', 'gpt2-attn-mlp', 'qwen2-attn', 'qwen3-all-linear', 'gemma3-all-linear', 'llama3-rope-all-linear', 'smollm3-attn-mlp'];

/** The cases of ../shared/golden-quant (NF4 and Q8_0 frozen weights): adapters and steps as above, no merged files. */
export const GOLDEN_QUANT_CASES = ['stories260K-nf4-all-linear', 'qwen3-q8-all-linear', 'gpt2-nf4-attn'];

/** The folder of ../shared holding case `name` (golden, golden-arch or golden-quant). */
export function goldenDir(name: string): string {
  const dir = GOLDEN_DIRS.map((d) => join(SHARED_DIR!, d, name)).find((d) => existsSync(join(d, 'case.json')));
  if (!dir) throw new Error(`no golden case '${name}' in ${GOLDEN_DIRS.map((d) => join(SHARED_DIR!, d)).join(' or ')}`);
  return dir;
}

export interface GoldenCase {
  name: string;
  dir: string;
  /** The case's folder: adapter_config.json, adapter_model.safetensors, expected/merged files. */
  source: ModelSource;
  /** The base model's folder. */
  model: ModelSource;
  spec: ModelSpec;
  caseJson: {
    model: string;
    lora: { r: number; lora_alpha: number; target_modules: string[]; lora_dropout: number };
    /** golden-quant: how the projections were quantized (their references keep the rest float32). */
    quantization?: { method: 'nf4' | 'q8'; block_size: number; quantized: string[]; left_unquantized: string[] };
  };
}

export async function goldenCase(name: string): Promise<GoldenCase> {
  const dir = goldenDir(name);
  const caseJson = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  const model = folderSource(join(SHARED_DIR!, 'models', caseJson.model));
  const { spec } = await loadModelSpec(model);
  return { name, dir, source: folderSource(dir), model, spec, caseJson };
}

/**
 * The case's adapter_config.json with the `after5.<peft key>` tensors of expected.safetensors as
 * adapter_model.safetensors: the adapter after five training steps, as PEFT would save it.
 */
export async function after5Adapter(c: GoldenCase): Promise<ModelSource> {
  const header = await readSafetensorsHeader(c.source, 'expected.safetensors');
  const tensors: TensorToWrite[] = [];
  for (const [name, info] of header.tensors) {
    if (!name.startsWith('after5.')) continue;
    tensors.push({ name: name.slice('after5.'.length), dtype: 'F32', shape: info.shape, data: await readTensorF32(c.source, header, name) });
  }
  return memorySource(
    {
      'adapter_config.json': readFileSync(join(c.dir, 'adapter_config.json')),
      'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
    },
    `${c.name}/after5`,
  );
}
