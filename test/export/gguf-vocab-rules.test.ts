// The rules of ../../src/export/gguf/vocab.ts on small made-up tokenizers (no llama.cpp needed):
// SentencePiece-style scores from the merge ranks (Unigram scores kept), token types, add_space_prefix, the padding of
// the vocabulary to V rows, the placeholder vocabulary of a model without tokenizer, and the errors
// for a pre-tokenizer llama.cpp does not know and for more tokens than the model has rows.
import { describe, expect, it } from 'vitest';
import { tokenizerKvs } from '../../src/export/gguf/vocab.js';
import { parseModelConfig } from '../../src/model/config.js';
import { memorySource } from '../../src/model/source.js';
import type { GgufKv } from '../../src/export/gguf/writer.js';

const spec = (V: number) =>
  parseModelConfig({ model_type: 'llama', vocab_size: V, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, bos_token_id: 1, eos_token_id: 2 }, 'config.json');
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const values = (kvs: GgufKv[]) => Object.fromEntries(kvs.map((k) => [k.key, k.type === 'array' ? Array.from(k.value) : k.value]));

const SPM_VOCAB = { '<unk>': 0, '<s>': 1, '</s>': 2, '<0x41>': 3, '▁': 4, a: 5, b: 6, '▁a': 7, ab: 8, '▁ab': 9 };
const spmTokenizer = (over: Record<string, unknown> = {}) => ({
  version: '1.0',
  added_tokens: [
    { id: 0, content: '<unk>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
    { id: 1, content: '<s>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
    { id: 2, content: '</s>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
  ],
  normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
  pre_tokenizer: null,
  post_processor: null,
  decoder: null,
  model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, fuse_unk: true, vocab: SPM_VOCAB, merges: ['▁ a', 'a b', '▁a b'] },
  ...over,
});
const config = { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true, add_eos_token: false, chat_template: '{{ messages[0].content }}' };

describe('GGUF tokenizer metadata', () => {
  it('a byte-fallback BPE vocabulary as SentencePiece: scores −merge rank, token types, ids, flags, padded to V', async () => {
    const source = memorySource({ 'tokenizer.json': enc(spmTokenizer()), 'tokenizer_config.json': enc(config) }, 'spm');
    const v = values(await tokenizerKvs(source, spec(12)));
    expect(v['tokenizer.ggml.model']).toBe('llama');
    expect(v['tokenizer.ggml.tokens']).toEqual([...Object.keys(SPM_VOCAB), '[PAD10]', '[PAD11]']);
    // ▁a, ab, ▁ab are made by merges 0, 1, 2; every other token scores below them all: −(3 + id).
    expect(v['tokenizer.ggml.scores']).toEqual([-3, -4, -5, -6, -7, -8, -9, 0, -1, -2, -13, -14]);
    expect(v['tokenizer.ggml.token_type']).toEqual([3, 3, 3, 6, 1, 1, 1, 1, 1, 1, 5, 5]);
    expect([v['tokenizer.ggml.bos_token_id'], v['tokenizer.ggml.eos_token_id'], v['tokenizer.ggml.unknown_token_id']]).toEqual([1, 2, 0]);
    expect([v['tokenizer.ggml.add_bos_token'], v['tokenizer.ggml.add_eos_token'], v['tokenizer.ggml.add_space_prefix']]).toEqual([true, false, true]);
    expect(v['tokenizer.chat_template']).toBe('{{ messages[0].content }}');
    // Without the Prepend normalizer (Gemma's form) no space prefix, and no BOS where the config says so.
    const gemmaLike = spmTokenizer({ normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' } });
    const w = values(await tokenizerKvs(memorySource({ 'tokenizer.json': enc(gemmaLike), 'tokenizer_config.json': enc({ ...config, add_bos_token: false }) }), spec(10)));
    expect([w['tokenizer.ggml.add_space_prefix'], w['tokenizer.ggml.add_bos_token']]).toEqual([false, false]);
  });

  it('a Unigram vocabulary keeps its own scores; Metaspace prepends the space', async () => {
    const unigram = {
      version: '1.0',
      added_tokens: [{ id: 1, content: '</s>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      post_processor: null,
      decoder: null,
      model: { type: 'Unigram', unk_id: 0, byte_fallback: false, vocab: [['<unk>', 0], ['</s>', 0], ['▁a', -1.5], ['a', -2.25], ['<0x41>', -9]] },
    };
    const v = values(await tokenizerKvs(memorySource({ 'tokenizer.json': enc(unigram), 'tokenizer_config.json': enc({ eos_token: '</s>', unk_token: '<unk>' }) }), spec(5)));
    expect(v['tokenizer.ggml.model']).toBe('llama');
    expect(v['tokenizer.ggml.scores']).toEqual([0, 0, -1.5, -2.25, -9]);
    expect(v['tokenizer.ggml.token_type']).toEqual([2, 3, 1, 1, 6]);
    expect([v['tokenizer.ggml.add_space_prefix'], v['tokenizer.ggml.eos_token_id']]).toEqual([true, 1]);
  });

  it('a model without tokenizer.json gets a placeholder gpt2 vocabulary of V tokens and one merge', async () => {
    const v = values(await tokenizerKvs(memorySource({}), spec(7)));
    expect(v['tokenizer.ggml.model']).toBe('gpt2');
    expect(v['tokenizer.ggml.tokens']).toHaveLength(7);
    expect(new Set(v['tokenizer.ggml.tokens'] as string[]).size).toBe(7);
    expect(v['tokenizer.ggml.merges']).toHaveLength(1);
    expect([v['tokenizer.ggml.bos_token_id'], v['tokenizer.ggml.eos_token_id'], v['tokenizer.ggml.add_bos_token']]).toEqual([1, 2, false]);
  });

  it("names the pre-tokenizer without a Split regex: ByteLevel alone gpt-2, SmolLM's individual Digits + ByteLevel smollm", async () => {
    const bpe = (pre: unknown) => ({ ...spmTokenizer(), normalizer: null, pre_tokenizer: pre, model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: [['a', 'b']] }, added_tokens: [] });
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    const pre = async (p: unknown) => values(await tokenizerKvs(memorySource({ 'tokenizer.json': enc(bpe(p)) }), spec(3)))['tokenizer.ggml.pre'];
    expect(await pre(byteLevel)).toBe('gpt-2');
    expect(await pre({ type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel] })).toBe('smollm');
    await expect(pre({ type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }, byteLevel] })).rejects.toThrow(/a Digits pre-tokenizer without individual_digits/);
  });

  it('refuses a byte-level pre-tokenizer llama.cpp has no name for, and more tokens than embedding rows', async () => {
    const byteLevel = {
      ...spmTokenizer(),
      normalizer: null,
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\p{L}+|\\s+' }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] },
      model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: [['a', 'b']] },
      added_tokens: [],
    };
    await expect(tokenizerKvs(memorySource({ 'tokenizer.json': enc(byteLevel) }, 'odd'), spec(3))).rejects.toThrow(/odd\/tokenizer.json: pre_tokenizer Split regex "\\\\p\{L\}\+\|\\\\s\+" is not one llama.cpp has a pre-tokenizer for/);
    await expect(tokenizerKvs(memorySource({ 'tokenizer.json': enc(spmTokenizer()), 'tokenizer_config.json': enc(config) }, 'big'), spec(8))).rejects.toThrow(/big: tokenizer.json has 10 token ids, more than the model's vocab_size 8/);
  });
});
