// The GGUF buttons of the export panel: the current adapter as a GGUF LoRA file (llama.cpp
// --lora, Ollama's ADAPTER), or the model with the adapter merged in plus its Ollama Modelfile,
// in f16 (the default), q8_0 or f32. The worker writes the file tensor by tensor to the browser's
// origin-private file system and hands back a disk-backed File, which is downloaded from there;
// where that file system is missing the worker gathers the file in memory, and the hint says so
// before a large export. Progress (tensors written of all) shows in the export status line.
import type { GgufExport, GgufExportRequest, LoraEngine } from '../../src/engine/types.js';
import { $, mib } from './dom.js';
import { downloadBlob, downloadBytes } from './download.js';
import type { Store } from './state.js';

/** Runs one export as the engine's job: `fn` reports progress through `progress`, and returns the outcome's text. */
export type Exporting = (what: string, fn: (progress: (text: string) => void) => Promise<string>) => Promise<void>;

type GgufType = NonNullable<GgufExportRequest['type']>;

/** Bytes per matrix element of each type (q8_0: 32 int8 and one f16 scale per block). */
const BYTES_PER_ELEMENT: Record<GgufType, number> = { f32: 4, f16: 2, q8_0: 34 / 32 };
/** Without an origin-private file system, a file past this size gets a warning before it is exported. */
const LARGE_IN_MEMORY = 256 * 2 ** 20;

/** Whether this browser has an origin-private file system the worker can write exports to. */
const hasOpfs = (): boolean => typeof navigator.storage?.getDirectory === 'function';

/** Where the file was written, for the status line. */
function storedWhere(r: GgufExport): string {
  return r.storage === 'opfs' ? 'written to disk in the browser\'s private storage as it was made' : `gathered in memory: ${r.storageNote ?? 'no private file storage'}`;
}

/** The status line after an export: the file(s), their size, where they were written, and how to use them. */
function outcome(r: GgufExport): string {
  const file = `${r.file.name} (${mib(r.bytes, 2)} MiB, ${r.tensors} tensors; ${storedWhere(r)})`;
  if (r.kind === 'adapter') return `${file}. Use it with llama.cpp (llama-cli -m <the base model>.gguf --lora ${r.file.name}) or as ADAPTER in an Ollama Modelfile.`;
  const modelfile = r.modelfile ? ` and ${r.modelfile.name}: ollama create <name> -f ${r.modelfile.name}` : '';
  return `${file}${modelfile}.`;
}

export function initGgufExport(engine: LoraEngine, store: Store, exporting: Exporting): void {
  const typeSelect = $<HTMLSelectElement>('gguf-type');
  const adapterButton = $<HTMLButtonElement>('gguf-adapter');
  const mergedButton = $<HTMLButtonElement>('gguf-merged');
  const hint = $('gguf-hint');
  const type = (): GgufType => typeSelect.value as GgufType;

  function run(kind: GgufExportRequest['kind']): Promise<void> {
    const what = kind === 'adapter' ? 'Writing the GGUF adapter' : 'Writing the GGUF merged model';
    return exporting(what, async (progress) => {
      const r = await engine.exportGguf({ kind, type: type() }, (p) => progress(`${what}: tensor ${p.done} of ${p.total} (${p.tensor})…`));
      downloadBlob(r.file, r.file.name);
      if (r.modelfile) downloadBytes(new TextEncoder().encode(r.modelfile.text), r.modelfile.name, 'text/plain');
      return outcome(r);
    });
  }
  adapterButton.addEventListener('click', () => run('adapter'));
  mergedButton.addEventListener('click', () => run('merged'));

  const update = () => {
    const s = store.state;
    const idle = s.job === null;
    adapterButton.disabled = !idle || !s.adapter;
    mergedButton.disabled = !idle || !s.adapter;
    if (!s.model) return void (hint.textContent = '');
    const perElement = BYTES_PER_ELEMENT[type()];
    const mergedBytes = s.model.parameters * perElement;
    const sizes = `Merged model about ${mib(mergedBytes, 0)} MiB in ${type()}${s.adapter ? `, adapter about ${mib(s.adapter.trainableParameters * perElement, 2)} MiB` : ''}.`;
    hint.textContent = hasOpfs()
      ? `${sizes} Written to the browser's private storage as it is made, then downloaded from there.`
      : `${sizes} This browser has no private file storage for the export: the file is gathered in memory before the download${mergedBytes > LARGE_IN_MEMORY ? ', which for this model may be more than the tab can hold' : ''}.`;
  };
  typeSelect.addEventListener('change', update);
  store.subscribe(update);
}
