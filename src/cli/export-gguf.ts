// webgpu-lora export-gguf: a model, a LoRA adapter, or the model with the adapter merged in, as
// one GGUF file for llama.cpp and Ollama (../export/gguf/export.ts), written atomically and tensor
// by tensor (never the whole model in memory). Runs on the CPU: no GPU is needed.
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exportGguf, GGUF_EXPORT_TYPES, ggufTokenizerFacts, type GgufExportType } from '../export/gguf/export.js';
import { ollamaModelfile } from '../export/modelfile.js';
import { writeFileAtomic, writeFileAtomicStream } from '../io/atomic-node.js';
import { loadModelSpec } from '../model/config.js';
import { readAdapter } from './adapter-source.js';
import { UsageError } from './common.js';
import { resolveModelSource } from './model-source.js';

export const EXPORT_GGUF_USAGE = `  webgpu-lora export-gguf --model <dir|url|hf-id> [--adapter <dir>] [--merged] [--type f32|f16|q8_0]
                          [--base-gguf <file.gguf>] --out <file.gguf>
      Writes a GGUF file for llama.cpp and Ollama: with --adapter, the GGUF LoRA adapter
      (llama-cli --lora, Ollama's ADAPTER); with --adapter --merged, the model with the adapter
      merged into its weights; with no --adapter, the model itself (tokenizer and chat template
      included). --type is the matrices' type (default f32; q8_0 rows not a multiple of 32 are
      f16; norms and biases stay f32). Supports llama, qwen2, qwen3, gemma3 and gpt2 models.
      Beside a model file it writes an Ollama Modelfile, <out without .gguf>.Modelfile (FROM the
      file, TEMPLATE from the chat template, PARAMETER stop), for \`ollama create <name> -f <it>\`;
      beside an adapter file too when --base-gguf names the base model's GGUF file in the same
      folder (FROM it, ADAPTER the adapter).`;

export async function exportGgufCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, adapter: { type: 'string' }, merged: { type: 'boolean' }, type: { type: 'string' }, out: { type: 'string' }, 'base-gguf': { type: 'string' } },
  });
  if (!values.model) throw new UsageError('export-gguf needs --model <dir|url|hf-id>');
  if (!values.out) throw new UsageError('export-gguf needs --out <file.gguf>');
  if (values.merged && !values.adapter) throw new UsageError('export-gguf: --merged needs --adapter <dir> (the adapter to merge)');
  const baseGguf = values['base-gguf'];
  if (baseGguf !== undefined && (!values.adapter || values.merged)) throw new UsageError('export-gguf: --base-gguf is for an adapter export (--adapter without --merged): the Modelfile then applies the adapter to that base file');
  if (baseGguf !== undefined && (basename(baseGguf) !== baseGguf || !baseGguf.endsWith('.gguf'))) throw new UsageError(`--base-gguf must be the file name of a .gguf in the output's folder, got '${baseGguf}'`);
  if (!values.out.endsWith('.gguf')) throw new UsageError(`--out must name a .gguf file, got '${values.out}'`);
  const type = (values.type ?? 'f32').toLowerCase() as GgufExportType;
  if (!GGUF_EXPORT_TYPES.includes(type)) throw new UsageError(`--type must be ${GGUF_EXPORT_TYPES.join(', ')}, got '${values.type}'`);
  const source = resolveModelSource(values.model);
  const { spec } = await loadModelSpec(source);
  const adapter = values.adapter !== undefined ? await readAdapter(values.adapter, spec, source) : undefined;
  const out = resolve(values.out);
  const result = await writeFileAtomicStream(out, (sink) => exportGguf(sink, source, { spec, adapter, merged: values.merged === true, type }));
  const what = result.kind === 'adapter' ? `the LoRA adapter (${adapter!.modules.length} modules, r ${adapter!.config.r})` : result.kind === 'merged' ? 'the model with the adapter merged in' : 'the model';
  console.log(`wrote ${out}: ${what} of ${source.description} as GGUF ${type}, ${result.tensors} tensors, ${result.bytes} bytes`);
  const facts = result.tokenizer ?? (baseGguf !== undefined ? await ggufTokenizerFacts(source, spec) : undefined);
  if (facts === undefined) {
    console.log('For Ollama, give --base-gguf <the base model .gguf in the same folder> to write a Modelfile that applies this adapter to it.');
    return 0;
  }
  const modelfile = join(dirname(out), `${basename(out, '.gguf')}.Modelfile`);
  const files = result.kind === 'adapter' ? { ggufFileName: baseGguf!, adapterFileName: basename(out) } : { ggufFileName: basename(out) };
  const text = ollamaModelfile({ ...files, chatTemplate: facts.chatTemplate, specialTokens: facts.specialTokens, addsBos: facts.addsBos });
  await writeFileAtomic(modelfile, new TextEncoder().encode(text));
  console.log(`wrote ${modelfile}: for Ollama, \`ollama create <name> -f ${modelfile}\``);
  return 0;
}
