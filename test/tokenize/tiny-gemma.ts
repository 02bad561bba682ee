// A complete Hugging Face folder for ../shared/models/tiny-random-gemma3, which ships weights and
// configs but no tokenizer: a tokenizer made here for a test's own texts, in a fresh folder under
// the OS temp dir, so that the demo (or anything that loads a model folder) can train it on text.
//
// The tokenizer follows the layout of Gemma 3's own tokenizer.json: a BPE model with byte
// fallback, spaces written '▁' by a Replace normalizer and turned back by the decoder, which also
// joins byte tokens (<0xEA><0xB3><0xA0> → '고'). Gemma 3's pre-tokenizer splits on ' ' after
// the normalizer has replaced every ' ' with '▁', which splits nothing, so this file has none: the
// whole text is one word, as it effectively is there. Its ids, at most config.json's vocab_size:
//   the config's pad_token_id, eos_token_id and bos_token_id: <pad>, <eos>, <bos>;
//   then, in the first free ids: <unk>, the turn markers <start_of_turn> and <end_of_turn> of the
//   Gemma 3 chat template (added special tokens, each always one id), the 256 byte tokens
//   <0x00> … <0xFF>, and the characters and merges that bpe-train.ts learns from the texts the
//   chat template makes of the test's pairs, until vocab_size is reached.
// tokenizer_config.json carries Gemma 3's real chat template, read from
// ../shared/models/gemma3-vocab/tokenizer_config.json, and Gemma 3's special tokens (EOS is
// <end_of_turn>, BOS is added). generation_config.json is the model's with <end_of_turn> added to
// its eos_token_id, as Gemma 3's is ([1, 106]), so that generation stops at the end of a turn in
// raw continuation too. config.json and model.safetensors are links to the fixture's files.
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileChatTemplate, renderChatTemplate } from '../../src/tokenize/chat-template.js';
import { SPACE, trainBpe } from './bpe-train.js';

export const TURN_START = '<start_of_turn>';
export const TURN_END = '<end_of_turn>';

/** A question and its answer, [input, output], as in the demo's pasted datasets. */
export type Pair = readonly string[];

export interface TinyGemmaFolder {
  /** The folder: config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json. */
  dir: string;
  /** The id of each special token. */
  ids: { pad: number; eos: number; bos: number; unk: number; turnStart: number; turnEnd: number };
  /** config.json's vocab_size: every id of the tokenizer is below it. */
  vocabSize: number;
  /** How many ids the tokenizer uses (≤ vocabSize). */
  tokenCount: number;
  remove(): void;
}

/** A JSON file, parsed; a missing or broken file is an error naming it. */
function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path} cannot be read as JSON: ${(e as Error).message}`);
  }
}

/** A whole-number field of a JSON file (for an array, its first entry), or an error naming the file and field. */
function idField(json: Record<string, unknown>, field: string, path: string): number {
  const raw = json[field];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!Number.isInteger(value) || (value as number) < 0) throw new Error(`${path}: ${field} must be a whole number ≥ 0, got ${JSON.stringify(raw)}`);
  return value as number;
}

/** Gemma 3's chat template, from the gemma3-vocab fixture (never stored in this repository). */
export function gemma3ChatTemplate(sharedDir: string): string {
  const path = join(sharedDir, 'models', 'gemma3-vocab', 'tokenizer_config.json');
  const template = readJson(path).chat_template;
  if (typeof template !== 'string') throw new Error(`${path}: chat_template must be a string (Gemma 3's Jinja template), got ${typeof template}`);
  return template;
}

/**
 * The texts the tokenizer learns from: each pair as a one-turn conversation rendered by the chat
 * template, cut at its special tokens (which are ids of their own, never learned).
 */
function trainingTexts(template: string, pairs: readonly Pair[], specials: string[]): string[] {
  const compiled = compileChatTemplate(template, 'the Gemma 3 chat template');
  const cut = new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'u');
  return pairs.flatMap((pair, i) => {
    if (pair.length !== 2 || pair.some((t) => typeof t !== 'string')) throw new Error(`tiny-gemma tokenizer: pair ${i} must be [input, output], two strings, got ${JSON.stringify(pair)}`);
    const [input, output] = pair;
    const text = renderChatTemplate(compiled, [{ role: 'user', content: input }, { role: 'assistant', content: output }], false, { bos_token: '<bos>', eos_token: TURN_END });
    return text.split(cut).filter((t) => t.length > 0);
  });
}

/** Writes the folder for `pairs`; `sharedDir` is ../shared. */
export function writeTinyGemmaFolder(pairs: readonly Pair[], sharedDir: string): TinyGemmaFolder {
  const modelDir = join(sharedDir, 'models', 'tiny-random-gemma3');
  const configPath = join(modelDir, 'config.json');
  const config = readJson(configPath);
  const vocabSize = idField(config, 'vocab_size', configPath);
  const fixed: [string, number][] = [
    ['<pad>', idField(config, 'pad_token_id', configPath)],
    ['<eos>', idField(config, 'eos_token_id', configPath)],
    ['<bos>', idField(config, 'bos_token_id', configPath)],
  ];

  // Ids in order: the config's specials where it puts them, then everything else in the free ids.
  const vocab = new Map<string, number>(fixed);
  if (new Set(fixed.map(([, id]) => id)).size !== fixed.length) throw new Error(`${configPath}: pad, eos and bos token ids must differ, got ${JSON.stringify(fixed)}`);
  let next = 0;
  const add = (token: string): number => {
    if (vocab.has(token)) throw new Error(`tiny-gemma tokenizer: the token ${JSON.stringify(token)} would appear twice`);
    while ([...vocab.values()].includes(next)) next++;
    vocab.set(token, next);
    return next;
  };
  const unk = add('<unk>');
  const turnStart = add(TURN_START);
  const turnEnd = add(TURN_END);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const specials = ['<pad>', '<eos>', '<bos>', '<unk>', TURN_START, TURN_END];

  const template = gemma3ChatTemplate(sharedDir);
  const bpe = trainBpe(trainingTexts(template, pairs, specials), vocabSize - vocab.size);
  for (const token of bpe.tokens) add(token);
  const maxId = Math.max(...vocab.values());
  if (maxId >= vocabSize) throw new Error(`tiny-gemma tokenizer: id ${maxId} is not below ${configPath}'s vocab_size ${vocabSize}`);

  const ids = { pad: vocab.get('<pad>')!, eos: vocab.get('<eos>')!, bos: vocab.get('<bos>')!, unk, turnStart, turnEnd };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content) => ({ id: vocab.get(content)!, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<bos>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<bos>': { id: '<bos>', ids: [ids.bos], tokens: ['<bos>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: SPACE }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries([...vocab.entries()].sort((a, b) => a[1] - b[1])),
      merges: bpe.merges,
    },
  };
  const tokenizerConfig = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<bos>',
    eos_token: TURN_END,
    pad_token: '<pad>',
    unk_token: '<unk>',
    clean_up_tokenization_spaces: false,
    spaces_between_special_tokens: false,
    model_max_length: config.max_position_embeddings,
    tokenizer_class: 'GemmaTokenizer',
    chat_template: template,
  };
  const generationPath = join(modelDir, 'generation_config.json');
  const generation = readJson(generationPath);
  const eos = idField(generation, 'eos_token_id', generationPath);

  const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-tiny-gemma3-'));
  try {
    for (const file of ['config.json', 'model.safetensors']) symlinkSync(join(modelDir, file), join(dir, file));
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ ...generation, eos_token_id: [eos, turnEnd] }, null, 2));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson, null, 2));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, ids, vocabSize, tokenCount: vocab.size, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
