// The tokenizer as GGUF metadata (tokenizer.ggml.*, tokenizer.chat_template), read from the model
// folder's tokenizer.json and tokenizer_config.json, in the two forms llama.cpp's llama-vocab.cpp
// reads:
//   'llama' (SentencePiece): a BPE vocabulary with byte_fallback (<0xNN> tokens; Llama 2,
//     TinyStories, Gemma) or a Unigram one. llama.cpp merges the adjacent pair whose joined token
//     has the highest score, so a BPE vocabulary's scores must reproduce the merge order: the
//     token that merge k makes scores −k, a token no merge makes −(merges + id) (scores all equal,
//     as upstream writes them for a tokenizer.json-only folder, tokenize differently from HF).
//     tokenizer.ggml.add_space_prefix says whether the normalizer prepends '▁'.
//   'gpt2' (byte-level BPE): tokens, merges ("a b"), and tokenizer.ggml.pre, the name of the
//     pre-tokenizer regex llama.cpp knows (qwen2, llama-bpe, smollm, gpt-2), found from tokenizer.json's
//     Split pattern; an unknown one is refused rather than guessed.
// Token types: special added tokens control, other added tokens user-defined, <0xNN> byte, the
// unknown token unknown, tokens padding the vocabulary to the embedding's V rows unused.
// A model without tokenizer.json gets a placeholder gpt2 vocabulary of V tokens and one merge
// (llama.cpp's loader crashes on tokenizer.ggml.model 'none').
import { readJsonIfExists, type ModelSource } from '../../model/source.js';
import type { ModelSpec } from '../../model/config.js';
import { TextTokenizer } from '../../tokenize/tokenizer.js';
import { TOKEN_TYPE } from './format.js';
import { kv, type GgufKv } from './writer.js';

type Json = Record<string, unknown>;

// The Split regexes of the byte-level tokenizers llama.cpp has a pre-tokenizer for, by its name.
const PRE_TOKENIZERS: Array<{ name: string; regex: string }> = [
  { name: 'qwen2', regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
  { name: 'llama-bpe', regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
];

/** Every object of a normalizer / pre-tokenizer tree (Sequence members included), depth first. */
function parts(node: unknown): Json[] {
  if (!node || typeof node !== 'object') return [];
  const n = node as Json;
  const children = [n.normalizers, n.pretokenizers].filter(Array.isArray).flat() as unknown[];
  return [n, ...children.flatMap(parts)];
}

/** tokenizer.ggml.pre for a byte-level BPE tokenizer.json; refused when llama.cpp knows no match. */
function preTokenizerName(json: Json, where: string): string {
  const splits = parts(json.pre_tokenizer).filter((p) => p.type === 'Split');
  if (splits.length === 0) {
    const all = parts(json.pre_tokenizer);
    const byteLevel = all.some((p) => p.type === 'ByteLevel' && p.use_regex !== false);
    const digits = all.filter((p) => p.type === 'Digits');
    // SmolLM's: each digit on its own (Digits, individual_digits), then GPT-2's regex: llama.cpp's 'smollm'.
    if (byteLevel && digits.length === 1 && digits[0].individual_digits === true) return 'smollm';
    if (digits.length > 0) throw new Error(`${where}/tokenizer.json: a Digits pre-tokenizer without individual_digits (or with more than one) has no llama.cpp pre-tokenizer (tokenizer.ggml.pre)`);
    if (byteLevel) return 'gpt-2';
    throw new Error(`${where}/tokenizer.json: the pre_tokenizer has neither a Split regex nor a ByteLevel regex; no llama.cpp pre-tokenizer (tokenizer.ggml.pre) is known for it`);
  }
  const regex = (splits[0].pattern as { Regex?: unknown } | undefined)?.Regex;
  const known = PRE_TOKENIZERS.find((p) => p.regex === regex);
  if (!known) throw new Error(`${where}/tokenizer.json: pre_tokenizer Split regex ${JSON.stringify(regex)} is not one llama.cpp has a pre-tokenizer for (known: ${PRE_TOKENIZERS.map((p) => p.name).join(', ')}, gpt-2)`);
  return known.name;
}

/** A merge as "a b", from either form tokenizer.json uses (a string, or a pair). */
function mergeText(m: unknown, i: number, where: string): [string, string] {
  if (typeof m === 'string') {
    const at = m.indexOf(' ', 1);
    if (at < 0) throw new Error(`${where}/tokenizer.json: model.merges[${i}] ${JSON.stringify(m)} is not "a b"`);
    return [m.slice(0, at), m.slice(at + 1)];
  }
  if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
  throw new Error(`${where}/tokenizer.json: model.merges[${i}] is neither "a b" nor ["a", "b"]`);
}

/** The placeholder vocabulary of a model without tokenizer.json: V tokens <t0> ..., one merge. */
function placeholderKvs(spec: ModelSpec): GgufKv[] {
  const tokens = Array.from({ length: spec.V }, (_, i) => `<t${i}>`);
  const out = [
    kv.str('tokenizer.ggml.model', 'gpt2'),
    kv.str('tokenizer.ggml.pre', 'default'),
    kv.arr('tokenizer.ggml.tokens', 'string', tokens),
    kv.arr('tokenizer.ggml.token_type', 'int32', new Array(spec.V).fill(TOKEN_TYPE.normal)),
    kv.arr('tokenizer.ggml.merges', 'string', ['< t']),
    kv.bool('tokenizer.ggml.add_bos_token', false),
  ];
  if (spec.bosTokenId !== null && spec.bosTokenId < spec.V) out.push(kv.u32('tokenizer.ggml.bos_token_id', spec.bosTokenId));
  if (spec.eosTokenIds.length > 0 && spec.eosTokenIds[0] < spec.V) out.push(kv.u32('tokenizer.ggml.eos_token_id', spec.eosTokenIds[0]));
  return out;
}

/**
 * The tokenizer.* key/values of the model folder (see the header); `loaded` is the folder's
 * TextTokenizer where the caller has one already (loading a large vocabulary takes seconds).
 */
export async function tokenizerKvs(source: ModelSource, spec: ModelSpec, loaded?: TextTokenizer): Promise<GgufKv[]> {
  const where = source.description;
  const json = await readJsonIfExists<Json>(source, 'tokenizer.json');
  if (json === null) return placeholderKvs(spec);
  const tok = loaded ?? (await TextTokenizer.load(source));
  const model = json.model as Json;
  const added = (Array.isArray(json.added_tokens) ? json.added_tokens : []) as Array<{ id: number; content: string; special?: boolean }>;

  // tokens[id], from the model's vocabulary and the added tokens.
  const tokens: (string | undefined)[] = [];
  const unigramScores: number[] = [];
  if (model.type === 'Unigram') {
    (model.vocab as Array<[string, number]>).forEach(([t, s], id) => {
      tokens[id] = t;
      unigramScores[id] = s;
    });
  } else if (model.type === 'BPE') {
    for (const [t, id] of Object.entries(model.vocab as Record<string, number>)) tokens[id] = t;
  } else {
    throw new Error(`${where}/tokenizer.json: model type ${JSON.stringify(model.type)} cannot be exported to GGUF (BPE and Unigram can)`);
  }
  // An added token beyond the embedding's V rows (Gemma 3's <image_soft_token>) can be neither read
  // nor produced by the model, and llama.cpp needs exactly V tokens: it is left out.
  for (const a of added) if (a.id < spec.V) tokens[a.id] = a.content;
  if (tokens.length > spec.V) throw new Error(`${where}: tokenizer.json has ${tokens.length} token ids, more than the model's vocab_size ${spec.V}`);
  const types: number[] = [];
  const special = new Map(added.map((a) => [a.id, a.special === true]));
  // The unknown token: BPE names it (unk_token), Unigram gives its id (unk_id).
  const unk = typeof model.unk_token === 'string' ? tok.tokenToId(model.unk_token) : typeof model.unk_id === 'number' ? model.unk_id : undefined;
  const spm = model.type === 'Unigram' || model.byte_fallback === true;
  for (let id = 0; id < spec.V; id++) {
    const t = tokens[id];
    if (t === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.unused;
    } else if (special.has(id)) types[id] = special.get(id) ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
    else if (id === unk) types[id] = TOKEN_TYPE.unknown;
    else if (spm && /^<0x[0-9A-F]{2}>$/.test(t)) types[id] = TOKEN_TYPE.byte;
    else types[id] = TOKEN_TYPE.normal;
  }

  const out: GgufKv[] = [];
  const merges = Array.isArray(model.merges) ? model.merges.map((m, i) => mergeText(m, i, where)) : [];
  if (spm) {
    let scores: number[];
    if (model.type === 'Unigram') {
      scores = tokens.map((_, id) => unigramScores[id] ?? -1e9);
    } else {
      const rank = new Map<string, number>();
      merges.forEach(([a, b], k) => {
        if (!rank.has(a + b)) rank.set(a + b, k);
      });
      scores = tokens.map((t, id) => 0 - (rank.get(t!) ?? merges.length + id));
    }
    const prepends = parts(json.normalizer).some((p) => p.type === 'Prepend' && p.prepend === '▁') || parts(json.pre_tokenizer).some((p) => p.type === 'Metaspace' && p.prepend_scheme !== 'never' && p.add_prefix_space !== false);
    out.push(
      kv.str('tokenizer.ggml.model', 'llama'),
      kv.str('tokenizer.ggml.pre', 'default'),
      kv.arr('tokenizer.ggml.tokens', 'string', tokens as string[]),
      kv.arr('tokenizer.ggml.scores', 'float32', scores),
      kv.arr('tokenizer.ggml.token_type', 'int32', types),
      kv.bool('tokenizer.ggml.add_space_prefix', prepends),
    );
  } else {
    out.push(
      kv.str('tokenizer.ggml.model', 'gpt2'),
      kv.str('tokenizer.ggml.pre', preTokenizerName(json, where)),
      kv.arr('tokenizer.ggml.tokens', 'string', tokens as string[]),
      kv.arr('tokenizer.ggml.token_type', 'int32', types),
      kv.arr('tokenizer.ggml.merges', 'string', merges.map(([a, b]) => `${a} ${b}`)),
    );
  }
  // Special tokens: the tokenizer config's, else the model config's.
  const bos = tok.bosTokenId ?? spec.bosTokenId;
  const eos = tok.eosTokenId ?? spec.eosTokenIds[0] ?? null;
  if (bos !== null) out.push(kv.u32('tokenizer.ggml.bos_token_id', bos));
  if (eos !== null) out.push(kv.u32('tokenizer.ggml.eos_token_id', eos));
  if (unk !== undefined) out.push(kv.u32('tokenizer.ggml.unknown_token_id', unk));
  if (tok.padTokenId !== null) out.push(kv.u32('tokenizer.ggml.padding_token_id', tok.padTokenId));
  // add_bos as this project's encode() does it (tokenizer_config flags or tokenizer.json's post-processor).
  const withSpecial = tok.encode('a');
  const plain = tok.encode('a', { addSpecialTokens: false });
  const addsBos = bos !== null && withSpecial[0] === bos && plain[0] !== bos;
  const addsEos = eos !== null && withSpecial.at(-1) === eos && plain.at(-1) !== eos;
  out.push(kv.bool('tokenizer.ggml.add_bos_token', addsBos), kv.bool('tokenizer.ggml.add_eos_token', addsEos));
  if (tok.chatTemplate !== null) out.push(kv.str('tokenizer.chat_template', tok.chatTemplate));
  return out;
}
