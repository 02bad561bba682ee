// exportGguf: one entry point for the three GGUF files of a model and an adapter, written to a
// byte sink tensor by tensor (Node: ../../io/atomic-node.ts writeFileAtomicStream; browser: a
// FileSystemWritableFileStream, or collectBytes below):
//   adapter given, merged false  → the GGUF LoRA adapter (./adapter.ts), for llama.cpp --lora / Ollama ADAPTER;
//   adapter given, merged true   → the model with the adapter merged in (./model.ts);
//   no adapter                   → the base model itself.
import type { LoraAdapter } from '../../lora/adapter.js';
import { checkAdapterFinite } from '../../lora/peft.js';
import { loadModelSpec, type ModelSpec } from '../../model/config.js';
import type { ModelSource } from '../../model/source.js';
import type { TextTokenizer } from '../../tokenize/tokenizer.js';
import { adapterGguf } from './adapter.js';
import { GGML_TYPE, type GgmlTypeName } from './format.js';
import { modelGguf } from './model.js';
import { tokenizerKvs } from './vocab.js';
import { writeGguf, type ByteSink, type GgufKv } from './writer.js';

export const GGUF_EXPORT_TYPES = Object.keys(GGML_TYPE) as GgmlTypeName[];
export type GgufExportType = GgmlTypeName;
export type { ByteSink } from './writer.js';

export interface ExportGgufOptions {
  /** A LoRA adapter for this model: written as a GGUF LoRA file, or merged with `merged`. */
  adapter?: LoraAdapter;
  /** Write the model with the adapter merged into its weights instead of the adapter alone. */
  merged?: boolean;
  /** f32 (default), f16 or q8_0 for the matrices; 1-D tensors stay f32. */
  type?: GgufExportType;
  /** The model's spec, if already loaded (else read from the source's config.json). */
  spec?: ModelSpec;
  /** general.name. */
  name?: string;
  /** The model folder's tokenizer, if already loaded (saves loading it again for a model file). */
  tokenizer?: TextTokenizer;
  /** Called after each tensor is written. */
  onTensor?: (name: string, done: number, total: number) => void;
}

export interface ExportGgufResult {
  kind: 'adapter' | 'merged' | 'model';
  bytes: number;
  tensors: number;
  /**
   * For a model file: what the file's tokenizer metadata says, for an Ollama Modelfile beside it
   * (../modelfile.ts ollamaModelfile): the chat template, whether llama.cpp adds BOS itself, and
   * the text of the special tokens it names (bos_token, eos_token, unk_token, pad_token).
   */
  tokenizer?: { chatTemplate: string | null; addsBos: boolean; specialTokens: Record<string, string> };
}

/** The tokenizer facts of a model file's key/values (see ExportGgufResult.tokenizer). */
function tokenizerFacts(kvs: GgufKv[]): NonNullable<ExportGgufResult['tokenizer']> {
  const value = (key: string) => kvs.find((k) => k.key === key)?.value;
  const tokens = value('tokenizer.ggml.tokens') as ArrayLike<string>;
  const specialTokens: Record<string, string> = {};
  for (const [name, key] of [['bos_token', 'bos_token_id'], ['eos_token', 'eos_token_id'], ['unk_token', 'unknown_token_id'], ['pad_token', 'padding_token_id']]) {
    const id = value(`tokenizer.ggml.${key}`);
    if (typeof id === 'number') specialTokens[name] = tokens[id];
  }
  const template = value('tokenizer.chat_template');
  return { chatTemplate: typeof template === 'string' ? template : null, addsBos: value('tokenizer.ggml.add_bos_token') === true, specialTokens };
}

/**
 * The tokenizer facts (ExportGgufResult.tokenizer) that the model's GGUF file has or would have:
 * for the Modelfile of an adapter export, whose base model file was exported before.
 */
export async function ggufTokenizerFacts(source: ModelSource, spec: ModelSpec, tokenizer?: TextTokenizer): Promise<NonNullable<ExportGgufResult['tokenizer']>> {
  return tokenizerFacts(await tokenizerKvs(source, spec, tokenizer));
}

/** Writes the GGUF file the options ask for (see the header) to `sink`. */
export async function exportGguf(sink: ByteSink, source: ModelSource, opts: ExportGgufOptions = {}): Promise<ExportGgufResult> {
  const type = opts.type ?? 'f32';
  if (!GGUF_EXPORT_TYPES.includes(type)) throw new Error(`exportGguf: type must be ${GGUF_EXPORT_TYPES.join(', ')}, not '${String(type)}'`);
  if (opts.merged && !opts.adapter) throw new Error('exportGguf: merged needs an adapter to merge');
  if (opts.adapter) checkAdapterFinite(opts.adapter, 'exportGguf');
  const spec = opts.spec ?? (await loadModelSpec(source)).spec;
  const kind = opts.adapter ? (opts.merged ? 'merged' : 'adapter') : 'model';
  const { kvs, tensors } =
    kind === 'adapter' ? adapterGguf(opts.adapter!, spec, { type, name: opts.name }) : await modelGguf(source, spec, { type, adapter: opts.merged ? opts.adapter : undefined, name: opts.name, tokenizer: opts.tokenizer });
  const bytes = await writeGguf(sink, kvs, tensors, opts.onTensor);
  return { kind, bytes, tensors: tensors.length, ...(kind === 'adapter' ? {} : { tokenizer: tokenizerFacts(kvs) }) };
}

/** A sink that keeps the bytes in memory (tests, small adapters in the browser); bytes() joins them. */
export function collectBytes(): ByteSink & { bytes(): Uint8Array } {
  const chunks: Uint8Array[] = [];
  return {
    write: (b) => void chunks.push(b.slice()),
    bytes: () => {
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
  };
}
