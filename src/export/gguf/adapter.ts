// A LoRA adapter as a GGUF LoRA file, the one llama.cpp loads with --lora (src/llama-adapter.cpp)
// and Ollama with ADAPTER: general.type "adapter", adapter.type "lora", adapter.lora.alpha, the
// base model's general.architecture, and for each wrapped weight W (GGUF name N, e.g.
// blk.0.attn_q.weight) the tensors N.lora_a and N.lora_b.
//
// Orientation: PEFT's A is [r, in] and B [out, r] row-major, which are GGUF tensors of
// dimensions [in, r] and [r, out], the data unchanged: llama.cpp checks W.ne0 = a.ne0 (in),
// W.ne1 = b.ne1 (out), a.ne1 = b.ne0 (r) and computes W·x + s·B·(A·x). GPT-2's adapters are
// already in this orientation (PEFT's fan_in_fan_out applies to the base weight only), so they
// are not transposed. Llama's q and k weights have their rows permuted in a GGUF model
// (./arch.ts permuteHeadRows), so lora_b of q and k gets the same row permutation.
//
// Scale: llama.cpp uses alpha / r, r read from lora_b. With rsLoRA (PEFT's s = alpha / √r) the
// written alpha is alpha · √r, so that alpha' / r = alpha / √r.
// Types: f32, f16, or q8_0 for tensors whose rows (innermost dimension) are a multiple of 32;
// other tensors (lora_b's rows are r long) fall back to f16, as llama.cpp's converter does.
import { checkAdapterWeights, type LoraAdapter } from '../../lora/adapter.js';
import type { ModelSpec } from '../../model/config.js';
import { archKvs, loraTargetName, permutedHeads, permuteHeadRows } from './arch.js';
import { encodeTensor, tensorType } from './encode.js';
import { GGUF_FILE_TYPE, type GgmlTypeName } from './format.js';
import { kv, type GgufKv, type GgufTensor } from './writer.js';

export interface AdapterGgufOptions {
  type?: GgmlTypeName;
  /** general.name (default: the adapter's base model id, with " LoRA"). */
  name?: string;
}

/** The alpha written to adapter.lora.alpha so that llama.cpp's alpha / r is the adapter's scale. */
export function ggufLoraAlpha(adapter: LoraAdapter): number {
  const { alpha, r, useRslora } = adapter.config;
  return useRslora ? alpha * Math.sqrt(r) : alpha;
}

/** The key/values and tensors of the adapter's GGUF LoRA file (see the header). */
export function adapterGguf(adapter: LoraAdapter, spec: ModelSpec, opts: AdapterGgufOptions = {}): { kvs: GgufKv[]; tensors: GgufTensor[] } {
  const type = opts.type ?? 'f32';
  checkAdapterWeights(adapter, 'GGUF adapter export');
  const arch = archKvs(spec).find((k) => k.key === 'general.architecture')!;
  const kvs: GgufKv[] = [
    arch,
    kv.str('general.type', 'adapter'),
    kv.str('general.name', opts.name ?? `${adapter.baseModel || spec.modelType} LoRA`),
    kv.u32('general.file_type', GGUF_FILE_TYPE[type]),
    kv.u32('general.quantization_version', 2),
    kv.str('adapter.type', 'lora'),
    kv.f32('adapter.lora.alpha', ggufLoraAlpha(adapter)),
  ];
  const { r } = adapter.config;
  const tensors: GgufTensor[] = [];
  for (const m of adapter.modules) {
    const target = loraTargetName(spec, m.layer, m.kind);
    const { A, B } = adapter.weights.get(m.path)!;
    const heads = permutedHeads(spec, m.kind);
    const aDims = [m.inFeatures, r];
    const bDims = [r, m.outFeatures];
    const aType = tensorType(type, aDims);
    const bType = tensorType(type, bDims);
    tensors.push(
      { name: `${target}.lora_a`, dims: aDims, type: aType, data: () => encodeTensor(A, aType, aDims[0], `${target}.lora_a`) },
      {
        name: `${target}.lora_b`,
        dims: bDims,
        type: bType,
        data: () => encodeTensor(heads === null ? B : permuteHeadRows(B, heads, r, `${m.path} lora_B`), bType, bDims[0], `${target}.lora_b`),
      },
    );
  }
  return { kvs, tensors };
}
