// An adapter holding NaN or Infinity (a diverged run) is never exported in any form: the GGUF
// LoRA, the merged GGUF model and the merged safetensors folder are each refused, naming the
// tensor, before a byte is written.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectBytes, exportGguf } from '../../src/export/gguf/export.js';
import { mergedModelFiles } from '../../src/lora/merge.js';
import { importPeft } from '../../src/lora/peft.js';
import { loadModelSpec } from '../../src/model/config.js';
import { folderSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

describe.skipIf(!SHARED_DIR)(`exports refuse a non-finite adapter${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  it('GGUF adapter, GGUF merged and merged safetensors: an error naming the tensor, nothing written', async () => {
    const source = folderSource(join(SHARED_DIR!, 'models', 'stories260K'));
    const { spec } = await loadModelSpec(source);
    const adapter = await importPeft(folderSource(join(SHARED_DIR!, 'golden', 'stories260K-all-linear')), spec);
    adapter.weights.get('model.layers.2.mlp.up_proj')!.B[3] = Number.NaN;
    for (const merged of [false, true]) {
      const sink = collectBytes();
      await expect(exportGguf(sink, source, { adapter, merged })).rejects.toThrow(/exportGguf: tensor '.*layers\.2\.mlp\.up_proj\.lora_B\.weight' holds NaN/);
      expect(sink.bytes().length).toBe(0);
    }
    await expect(mergedModelFiles(source, spec, adapter)).rejects.toThrow(/mergedModelFiles: tensor '.*layers\.2\.mlp\.up_proj\.lora_B\.weight' holds NaN/);
  });
});
