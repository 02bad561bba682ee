// The engine's GGUF export (LoraEngine.exportGguf): the current adapter as a GGUF LoRA file, or
// the model with it merged in plus the Ollama Modelfile that goes beside it, written by
// ../export/gguf/export.ts tensor by tensor into an ExportFile (./export-file.ts: the browser's
// origin-private file system where it exists), so that the bytes go to disk as they are made.
import { exportGguf, GGUF_EXPORT_TYPES } from '../export/gguf/export.js';
import { ollamaModelfile } from '../export/modelfile.js';
import type { LoraAdapter } from '../lora/adapter.js';
import type { LanguageModel } from '../model/model.js';
import type { TextTokenizer } from '../tokenize/tokenizer.js';
import { openExportFile } from './export-file.js';
import type { GgufExport, GgufExportProgress, GgufExportRequest } from './types.js';

const TYPES = ['f32', 'f16', 'q8_0'] as const;

/** The request checked, with its defaults, before any work starts. */
export function checkGgufRequest(request: GgufExportRequest): Required<GgufExportRequest> {
  const kind = request?.kind;
  if (kind !== 'adapter' && kind !== 'merged') throw new Error(`exportGguf: kind must be 'adapter' or 'merged', not '${String(kind)}'`);
  const type = request.type ?? 'f16';
  if (!TYPES.includes(type) || !GGUF_EXPORT_TYPES.includes(type)) throw new Error(`exportGguf: type must be ${TYPES.join(', ')}, not '${String(type)}'`);
  return { kind, type };
}

/** The file name of an export: adapter-f16.gguf, merged-model-q8_0.gguf. */
export const ggufFileName = (r: Required<GgufExportRequest>): string => `${r.kind === 'adapter' ? 'adapter' : 'merged-model'}-${r.type}.gguf`;

/** Writes the GGUF file `request` asks for of `model` and `adapter` (see the header). */
export async function writeGgufExport(
  model: LanguageModel,
  tokenizer: TextTokenizer,
  adapter: LoraAdapter,
  request: Required<GgufExportRequest>,
  onProgress?: (p: GgufExportProgress) => void,
): Promise<GgufExport> {
  const name = ggufFileName(request);
  const out = await openExportFile(name);
  let result;
  try {
    result = await exportGguf(out, model.source, {
      adapter,
      merged: request.kind === 'merged',
      type: request.type,
      spec: model.spec,
      tokenizer,
      onTensor: (tensor, done, total) => onProgress?.({ tensor, done, total }),
    });
  } catch (e) {
    await out.discard();
    throw e;
  }
  const file = await out.finish();
  const facts = result.tokenizer;
  const modelfile = facts && {
    name: name.replace(/\.gguf$/, '.Modelfile'),
    text: ollamaModelfile({ ggufFileName: name, chatTemplate: facts.chatTemplate, specialTokens: facts.specialTokens, addsBos: facts.addsBos }),
  };
  return {
    kind: request.kind,
    type: request.type,
    file,
    storage: out.storage,
    ...(out.note === undefined ? {} : { storageNote: out.note }),
    bytes: result.bytes,
    tensors: result.tensors,
    ...(modelfile ? { modelfile } : {}),
  };
}
