// stories260K with <s> (id 1) as its end-of-text token, for tests that train answers which must
// end. Its own </s> (id 2) cannot be learned by any LoRA: the output layer is tied to the
// embeddings, and the rows of </s> and of 168 other tokens that TinyStories never uses are one and
// the same direction, so their logits rise and fall together and </s> never gets more than about
// 1/169 of the probability (the loss at the end of each answer stays near ln 169 ≈ 5.1).
// llama2.c, which trained the model, ends every story with <s>, and so does this copy:
// tokenizer_config.json's eos_token and generation_config.json's eos_token_id.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED_DIR } from './helpers.js';

/** Writes the copy into `dir` (default a new temporary folder) and returns the folder. */
export function storiesEndingWithBos(dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-stories-bos-'))): string {
  const from = join(SHARED_DIR!, 'models', 'stories260K');
  mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) copyFileSync(join(from, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(from, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, eos_token: '<s>' }));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 1 }));
  return dir;
}
