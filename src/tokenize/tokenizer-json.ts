// Checks of an untrusted tokenizer.json, for ./tokenizer.ts: @huggingface/tokenizers builds from
// the file without checking it (an id of 2^31 makes a 2^31-entry list that the vocabulary size is
// then counted over; a merge whose join is not a token maps it to unk, silently; a setting of the
// wrong kind fails at the first text that reaches it), so the file's shape is checked before the
// library builds from it, the vocabulary it built is checked after, and each of its stages is run
// once on a probe text. Every error names the file and the field.
import { backtrackingRisk } from '../text/regex-risk.js';
import { Tokenizer } from '@huggingface/tokenizers';
import { SIZE_LIMITS } from '../model/config-fields.js';
import type { TokenizerConfig } from './special-tokens.js';
import { isJsonObject as isObject, showValue as show } from '../text/json-value.js';

/** Token ids are below this: config.json's vocab_size limit (../model/config-fields.ts). */
const ID_LIMIT = SIZE_LIMITS.vocab_size;

/** The component types @huggingface/tokenizers 0.2 builds in each section, and the list field of its Sequence. */
const COMPONENTS: Record<string, { list: string; types: string[] }> = {
  normalizer: { list: 'normalizers', types: ['BertNormalizer', 'Precompiled', 'Sequence', 'Replace', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Strip', 'StripAccents', 'Lowercase', 'Prepend'] },
  pre_tokenizer: { list: 'pretokenizers', types: ['BertPreTokenizer', 'Sequence', 'Whitespace', 'WhitespaceSplit', 'Metaspace', 'ByteLevel', 'Split', 'Punctuation', 'Digits', 'Replace', 'FixedLength'] },
  post_processor: { list: 'processors', types: ['TemplateProcessing', 'ByteLevel', 'BertProcessing', 'RobertaProcessing', 'Sequence'] },
  decoder: { list: 'decoders', types: ['ByteLevel', 'WordPiece', 'Metaspace', 'BPEDecoder', 'CTC', 'Sequence', 'Replace', 'Fuse', 'Strip', 'ByteFallback'] },
};

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < ID_LIMIT;

/**
 * Throws, naming `file` and the field, unless the parts of a tokenizer.json that the library
 * builds from without checking have the right shape: the model's type, vocabulary and merges
 * (two tokens each), unk_token, the added tokens (an id below ID_LIMIT and a content) and each
 * component section (null or an object of a known type, its pattern and special-token lists
 * well formed). Returns the special tokens the post-processor adds, for checkVocabulary.
 */
export function checkTokenizerJson(json: Record<string, unknown>, file: string): Array<[token: string, where: string]> {
  const fail: (msg: string) => never = (msg) => {
    throw new Error(`${file}: ${msg}`);
  };
  const model = json.model as Record<string, unknown>;
  // Without a type the library guesses from the fields, as here (or builds a legacy model, refused here).
  const guess = Array.isArray(model.vocab) ? 'Unigram' : 'continuing_subword_prefix' in model && 'unk_token' in model ? ('merges' in model ? 'BPE' : 'WordPiece') : undefined;
  const type = model.type ?? guess;
  if (type === 'BPE' || type === 'WordPiece') {
    if (!isObject(model.vocab)) fail(`model.vocab must be an object of token → id, not ${show(model.vocab)}`);
    if (model.unk_token != null && typeof model.unk_token !== 'string') fail(`model.unk_token must be a token or null, not ${show(model.unk_token)}`);
  } else if (type === 'Unigram') {
    if (!Array.isArray(model.vocab) || model.vocab.length > ID_LIMIT) fail(`model.vocab of a Unigram model must be a list of [token, score] pairs, not ${show(model.vocab)}`);
    const vocab = model.vocab as unknown[];
    vocab.forEach((entry, id) => {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Number.isFinite(entry[1])) fail(`model.vocab[${id}] must be a [token, score] pair, not ${show(entry)}`);
    });
    if (model.unk_id != null && !(isId(model.unk_id) && model.unk_id < vocab.length)) fail(`model.unk_id ${show(model.unk_id)} is not an id of model.vocab`);
  } else {
    fail(`model.type ${show(type)} is not a tokenizer model this project reads (BPE, WordPiece or Unigram)`);
  }
  if (type === 'BPE') {
    const merges = model.merges ?? [];
    if (!Array.isArray(merges)) fail(`model.merges must be a list, not ${show(merges)}`);
    const asText = typeof (merges as unknown[])[0] === 'string'; // the library reads every merge in the format of the first
    (merges as unknown[]).forEach((m, k) => {
      const ok = asText ? typeof m === 'string' && m.indexOf(' ') > 0 && m.indexOf(' ') === m.lastIndexOf(' ') && !m.endsWith(' ') : Array.isArray(m) && m.length === 2 && m.every((p) => typeof p === 'string' && p !== '');
      if (!ok) fail(`model.merges[${k}] must be ${asText ? 'two tokens separated by one space' : 'a pair of tokens'} like the first merge, not ${show(m)}`);
    });
  }

  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) fail(`added_tokens must be a list, not ${show(added)}`);
  (added as unknown[]).forEach((t, k) => {
    if (!isObject(t)) fail(`added_tokens[${k}] must be an object with an id and a content, not ${show(t)}`);
    const { id, content } = t as Record<string, unknown>;
    if (!isId(id)) fail(`added_tokens[${k}] has the id ${show(id)}; ids are integers from 0 to ${ID_LIMIT - 1}`);
    if (typeof content !== 'string' || content === '') fail(`added_tokens[${k}] has the content ${show(content)}; it must be a non-empty string`);
    for (const flag of ['special', 'normalized', 'lstrip', 'rstrip', 'single_word']) {
      const v = (t as Record<string, unknown>)[flag];
      if (v != null && typeof v !== 'boolean') fail(`added_tokens[${k}].${flag} must be true or false, not ${show(v)}`);
    }
    // The library lets an added token take over a vocabulary token's id, or its text from another id.
    const vocabId = isObject(model.vocab) && Object.hasOwn(model.vocab, content as string) ? model.vocab[content as string] : id;
    if (vocabId !== id) fail(`added_tokens[${k}] gives ${show(content)} the id ${id}, but model.vocab gives it ${show(vocabId)}`);
  });

  const specials: Array<[token: string, where: string]> = [];
  const component = (value: unknown, section: string, path: string): void => {
    if (value === null || value === undefined) return;
    const { list, types } = COMPONENTS[section];
    if (!isObject(value) || typeof value.type !== 'string') fail(`${path} must be null or an object with a "type", not ${show(value)}`);
    const v = value as Record<string, unknown>;
    if (!types.includes(v.type as string)) fail(`${path} has the type ${show(v.type)}, which is not one of ${types.join(', ')}`);
    if ('pattern' in v && !(isObject(v.pattern) && (typeof v.pattern.String === 'string' || typeof v.pattern.Regex === 'string'))) {
      fail(`${path}.pattern must be {"String": text} or {"Regex": text}, not ${show(v.pattern)}`);
    }
    // Every text is matched against it: a pattern whose matching time has no bound would hang encoding.
    const regex = isObject(v.pattern) ? v.pattern.Regex : undefined;
    const risk = typeof regex === 'string' ? backtrackingRisk(regex) : null;
    if (risk) fail(`${path}.pattern.Regex ${show(regex)} is a regular expression whose matching time cannot be bounded (${risk})`);
    // The post-processors add special tokens by their text (checkVocabulary looks each up).
    const special = (token: unknown, where: string) => {
      if (typeof token !== 'string') fail(`${where} names the special token ${show(token)}, which is not a token's text`);
      specials.push([token as string, where]);
    };
    if (v.type === 'TemplateProcessing') {
      for (const key of ['single', 'pair']) {
        if (!Array.isArray(v[key])) fail(`${path}.${key} must be a list, not ${show(v[key])}`);
        (v[key] as unknown[]).forEach((item, k) => {
          const at = `${path}.${key}[${k}]`;
          if (isObject(item) && isObject(item.SpecialToken)) special(item.SpecialToken.id, at);
          else if (!(isObject(item) && isObject(item.Sequence) && (item.Sequence.id === 'A' || item.Sequence.id === 'B'))) fail(`${at} must be {"SpecialToken": {"id": ...}} or {"Sequence": {"id": "A" or "B"}}, not ${show(item)}`);
        });
      }
    } else if (v.type === 'BertProcessing' || v.type === 'RobertaProcessing') {
      for (const key of ['cls', 'sep']) {
        if (!Array.isArray(v[key])) fail(`${path}.${key} must be a [token, id] pair, not ${show(v[key])}`);
        special((v[key] as unknown[])[0], `${path}.${key}`);
      }
    } else if (v.type === 'Sequence') {
      if (v[list] != null && !Array.isArray(v[list])) fail(`${path}.${list} must be a list, not ${show(v[list])}`);
      ((v[list] as unknown[] | undefined) ?? []).forEach((x, k) => component(x, section, `${path}.${list}[${k}]`));
    }
  };
  for (const section of Object.keys(COMPONENTS)) component(json[section], section, section);
  return specials;
}

/**
 * Throws, naming `file` and the field, unless the vocabulary the library built from tokenizer.json
 * is sound: every id an integer below ID_LIMIT, no id given to two tokens, unk_token one of the
 * tokens, each merge's join a token (Hugging Face's tokenizers refuses such files; this library
 * would map the join to unk, silently), and the post-processor's special tokens in it. Done on the
 * library's own maps, which are several times faster to walk than the parsed JSON.
 */
export function checkVocabulary(tokenizer: Tokenizer, json: Record<string, unknown>, specials: Array<[token: string, where: string]>, file: string): void {
  const fail: (msg: string) => never = (msg) => {
    throw new Error(`${file}: ${msg}`);
  };
  const model = (tokenizer as unknown as { model: { tokens_to_ids: Map<string, unknown>; merges?: unknown } }).model;
  const ids = model.tokens_to_ids; // model.vocab's tokens, then the added tokens
  const taken = new Uint8Array(ID_LIMIT / 8);
  for (const [token, id] of ids) {
    if (!isId(id)) fail(`model.vocab gives the token ${show(token)} the id ${show(id)}; ids are integers from 0 to ${ID_LIMIT - 1}`);
    if (taken[id >>> 3] & (1 << (id & 7))) {
      const first = [...ids].find(([t, i]) => i === id && t !== token)![0];
      const addedToo = ((json.added_tokens as Array<{ content: string }> | undefined) ?? []).some((t) => t.content === token);
      fail(addedToo ? `added_tokens give the id ${id} to ${show(token)}, which model.vocab gives to ${show(first)}` : `model.vocab gives the id ${id} to both ${show(first)} and ${show(token)}`);
    }
    taken[id >>> 3] |= 1 << (id & 7);
  }
  const jsonModel = json.model as Record<string, unknown>;
  if (typeof jsonModel.unk_token === 'string' && !ids.has(jsonModel.unk_token)) fail(`model.unk_token ${show(jsonModel.unk_token)} is not a token of model.vocab`);
  if (Array.isArray(model.merges) && model.merges.length > 0 && Array.isArray(model.merges[0])) {
    const prefix = typeof jsonModel.continuing_subword_prefix === 'string' ? jsonModel.continuing_subword_prefix : '';
    const merges = model.merges as Array<[string, string]>;
    for (let k = 0; k < merges.length; k++) {
      const [a, b] = merges[k];
      const joined = prefix && b.startsWith(prefix) ? a + b.slice(prefix.length) : a + b;
      if (!ids.has(joined)) fail(`model.merges[${k}] (${show(merges[k])}) makes the token ${show(joined)}, which model.vocab lacks`);
    }
  }
  for (const [token, where] of specials) {
    if (!ids.has(token)) fail(`${where} names the special token ${show(token)}, which is not in the vocabulary`);
  }
}

/**
 * The section of tokenizer.json (normalizer, pre_tokenizer, post_processor or decoder) that the
 * library fails to build, found by building each alone beside an empty model; 'model' if none.
 */
export function failingSection(json: Record<string, unknown>, config: TokenizerConfig): string {
  const none = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], model: { type: 'BPE', vocab: {}, merges: [] } };
  for (const section of Object.keys(COMPONENTS)) {
    try {
      new Tokenizer({ ...none, [section]: json[section] ?? null }, config);
    } catch {
      return section;
    }
  }
  return 'model';
}

/**
 * Text with letters, digits, spaces, a newline, a tab, punctuation, an accent, CJK and an emoji;
 * shorter than the words fast-bpe.ts takes over (so the probe does not build its merge table).
 */
const PROBE_TEXT = 'Hi 12, "naïve"\n日本 🐶!\t';

/**
 * Runs each stage of the library's tokenizer on PROBE_TEXT, so that a component whose settings
 * are of the wrong kind fails now, naming its section, rather than at the first real text; then
 * checks that every token of the probe has an id and that the ids decode.
 */
export function probeTokenizer(tokenizer: Tokenizer, file: string): void {
  const library = tokenizer as unknown as Record<'normalizer' | 'pre_tokenizer' | 'model' | 'decoder', ((x: unknown) => unknown) | null> & {
    post_processor: ((tokens: string[], pair: null, addSpecial: boolean) => unknown) | null;
  };
  const stage = <T>(section: string, run: () => T): T => {
    try {
      return run();
    } catch (e) {
      throw new Error(`${file}: its ${section} fails on a test text (${e instanceof Error ? e.message : String(e)})`);
    }
  };
  const normalized = stage('normalizer', () => (library.normalizer ? library.normalizer(PROBE_TEXT) : PROBE_TEXT));
  const words = stage('pre_tokenizer', () => (library.pre_tokenizer ? library.pre_tokenizer(normalized) : [normalized]));
  const pieces = stage('model', () => library.model!(words)) as string[];
  stage('post_processor', () => library.post_processor?.(pieces, null, true));
  const encoding = stage('model', () => tokenizer.encode(PROBE_TEXT, { add_special_tokens: true }));
  const at = encoding.ids.findIndex((id) => !isId(id));
  if (at >= 0) throw new Error(`${file}: the token ${show(encoding.tokens[at])} of a test text has no id (it is not in model.vocab, and model.unk_token names no token)`);
  const text = stage('decoder', () => tokenizer.decode(encoding.ids, { skip_special_tokens: false }));
  if (typeof text !== 'string') throw new Error(`${file}: its decoder gives ${show(text)} for a test text, not a string`);
}
