// ../shared/golden-format (see its README): examples.jsonl and reference.json, the token ids and
// labels a trainer must produce for each example with each *-vocab model's tokenizer and template.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_DIR } from '../helpers.js';

export const GOLDEN_FORMAT_FAMILIES = ['qwen3-vocab', 'qwen2.5-vocab', 'gemma3-vocab', 'llama3-vocab'] as const;

export interface ReferenceSequence {
  input_ids: number[];
  labels: number[];
}

export interface Reference {
  eos_token_id: number;
  bos_token_id: number | null;
  /** Per line of examples.jsonl: how it became sequences, and the sequences. */
  examples: Array<{ line: number; how: string; sequences: ReferenceSequence[] }>;
  encode: Array<{ text: string; with_special_tokens: number[]; without: number[] }>;
}

const dir = join(SHARED_DIR ?? '', 'golden-format');
export const EXAMPLES_FILE = join(dir, 'examples.jsonl');
export const readReference = (): Record<string, Reference> => JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
