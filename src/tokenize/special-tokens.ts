// The tokenizer settings that live outside tokenizer.json: tokenizer_config.json, with
// special_tokens_map.json underneath it (older folders keep bos/eos/unk/pad only there), and the
// rule that decides whether encode() adds BOS/EOS itself, the way transformers 5 does.
import { isJsonObject as isObject, showValue as show } from '../text/json-value.js';

/** A special token as tokenizer_config.json writes it: a string, or an AddedToken object. */
export type TokenSpec = string | { content: string } | null | undefined;

/** The parts of tokenizer_config.json this project reads; everything else is passed through. */
export interface TokenizerConfig {
  bos_token?: TokenSpec;
  eos_token?: TokenSpec;
  pad_token?: TokenSpec;
  unk_token?: TokenSpec;
  add_bos_token?: boolean | null;
  add_eos_token?: boolean | null;
  clean_up_tokenization_spaces?: boolean;
  chat_template?: unknown;
  additional_special_tokens?: TokenSpec[];
  [key: string]: unknown;
}

const NAMED_SPECIAL_TOKENS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

/** The text of a special token, or null when it is unset. */
export function tokenContent(spec: unknown): string | null {
  if (typeof spec === 'string') return spec;
  if (spec && typeof spec === 'object' && typeof (spec as { content?: unknown }).content === 'string') {
    return (spec as { content: string }).content;
  }
  return null;
}


/**
 * A parsed tokenizer_config.json or special_tokens_map.json (null: the file is absent), checked
 * so that a field this project reads is either absent, null or of its kind: otherwise an error
 * names `file` and the field (a bos_token of 1, an add_bos_token of "yes" or a chat_template of
 * {} would otherwise be read as unset, silently).
 */
export function checkTokenizerConfig(value: unknown, file: string): TokenizerConfig | null {
  if (value === null) return null;
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  if (!isObject(value)) fail(`not a JSON object but ${show(value)}`);
  const c = value as Record<string, unknown>;
  for (const key of NAMED_SPECIAL_TOKENS) {
    if (c[key] != null && tokenContent(c[key]) === null) fail(`${key} must be the token's text or an object with its "content", not ${show(c[key])}`);
  }
  // The last two are read by @huggingface/tokenizers itself, as truthy flags.
  for (const key of ['add_bos_token', 'add_eos_token', 'clean_up_tokenization_spaces', 'remove_space', 'do_lowercase_and_remove_accent']) {
    if (c[key] != null && typeof c[key] !== 'boolean') fail(`${key} must be true or false, not ${show(c[key])}`);
  }
  const extra = c.additional_special_tokens;
  if (extra != null && !(Array.isArray(extra) && extra.every((t) => tokenContent(t) !== null))) {
    fail(`additional_special_tokens must be a list of tokens (texts or objects with a "content"), not ${show(extra)}`);
  }
  const template = c.chat_template;
  const named = (t: unknown) => isObject(t) && typeof t.name === 'string' && typeof t.template === 'string';
  if (template != null && typeof template !== 'string' && !(Array.isArray(template) && template.every(named))) {
    fail(`chat_template must be a template's text or a list of {"name", "template"} objects, not ${show(template)}`);
  }
  return c as TokenizerConfig;
}

/**
 * tokenizer_config.json over special_tokens_map.json (the config wins where both name a token),
 * with every named special token reduced to its text, so that @huggingface/tokenizers, which
 * expects plain strings there, never sees an AddedToken object.
 */
export function mergeTokenizerConfig(config: TokenizerConfig | null, specialMap: Record<string, unknown> | null): TokenizerConfig {
  const merged: TokenizerConfig = { ...(specialMap ?? {}), ...(config ?? {}) };
  for (const key of NAMED_SPECIAL_TOKENS) {
    if (key in merged) merged[key] = tokenContent(merged[key]);
  }
  if (Array.isArray(merged.additional_special_tokens)) {
    merged.additional_special_tokens = merged.additional_special_tokens.map(tokenContent).filter((t): t is string => t !== null);
  }
  return merged;
}

/**
 * Who adds BOS/EOS in encode(addSpecialTokens = true). transformers 5 (TokenizersBackend) keeps
 * tokenizer.json's post-processor unless tokenizer_config.json names add_bos_token or
 * add_eos_token, or tokenizer.json has no post-processor; in those cases it replaces the
 * post-processor with the template `[BOS] $A [EOS]`, each present only when its flag is true and
 * its token is set. @huggingface/tokenizers ignores both flags and always runs the post-processor,
 * so the 'flags' answer means: encode without special tokens, then add them here.
 */
export function specialTokenPolicy(config: TokenizerConfig, hasPostProcessor: boolean): 'post-processor' | 'flags' {
  const explicit = 'add_bos_token' in config || 'add_eos_token' in config;
  return explicit || !hasPostProcessor ? 'flags' : 'post-processor';
}
