// Text ⇄ token ids for a Hugging Face model folder: tokenizer.json run by @huggingface/tokenizers,
// with the settings of tokenizer_config.json applied the way transformers' AutoTokenizer applies
// them (BOS/EOS, special-token ids, decode clean-up, chat template).
import { Tokenizer } from '@huggingface/tokenizers';
import type { Template } from '@huggingface/jinja';
import { readJsonIfExists, type ModelSource } from '../model/source.js';
import { useFastBpe } from './fast-bpe.js';
import { compileChatTemplate, findReasoningFormat, loadChatTemplate, renderChatTemplate, type ChatMessage, type ReasoningFormat } from './chat-template.js';
import { checkTokenizerConfig, mergeTokenizerConfig, specialTokenPolicy, tokenContent, type TokenizerConfig } from './special-tokens.js';
import { checkTokenizerJson, checkVocabulary, failingSection, probeTokenizer } from './tokenizer-json.js';

export type { ChatMessage, ReasoningFormat } from './chat-template.js';
export { StreamDecoder } from './stream.js';

export class TextTokenizer {
  /** Ids of the tokens tokenizer_config.json names, or null where it names none. */
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** One more than the largest id, added tokens included: the rows an embedding table needs. */
  readonly vocabSize: number;
  /** The Jinja chat template, or null when the folder has none. */
  readonly chatTemplate: string | null;

  private readonly tokenizer: Tokenizer;
  private readonly where: string;
  /** Whether encode() adds BOS/EOS from the config's flags or leaves it to tokenizer.json. */
  private readonly addFromFlags: boolean;
  private readonly addBos: boolean;
  private readonly addEos: boolean;
  /** transformers' clean_up_tokenization_spaces (" ," → ","); off unless the config turns it on. */
  private readonly cleanUpSpaces: boolean;
  /** bos_token, eos_token, ... as text, for the chat template. */
  private readonly specialTokenText: Record<string, string>;
  private compiledTemplate: Template | null = null;
  private leadingSpecials: number[] | null | undefined;
  private reasoning: ReasoningFormat | null | undefined;

  private constructor(tokenizerJson: Record<string, unknown>, config: TokenizerConfig, chatTemplate: string | null, where: string, configFile: TokenizerConfig | null) {
    this.where = where;
    // The library takes the file on trust (an id of 2^31 makes it walk a 2^31-entry list), so
    // what it builds from is checked first, and what it built is run once on a probe text.
    const specials = checkTokenizerJson(tokenizerJson, `${where}/tokenizer.json`);
    try {
      // The library insists that these keys exist, even when a file leaves them out (= none).
      const json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson, added_tokens: tokenizerJson.added_tokens ?? [] };
      this.tokenizer = new Tokenizer(json, config);
      useFastBpe(this.tokenizer);
    } catch (e) {
      throw new Error(`${where}/tokenizer.json cannot be loaded: its ${failingSection(tokenizerJson, config)} is not one the library can build (${(e as Error).message})`);
    }
    checkVocabulary(this.tokenizer, tokenizerJson, specials, `${where}/tokenizer.json`);
    probeTokenizer(this.tokenizer, `${where}/tokenizer.json`);

    const idOf = (key: string): number | null => {
      const text = tokenContent(config[key]);
      if (text === null) return null;
      const id = this.tokenizer.token_to_id(text);
      const file = configFile && key in configFile ? 'tokenizer_config.json' : 'special_tokens_map.json';
      if (id === undefined) throw new Error(`${where}: the ${key} ${JSON.stringify(text)} of ${file} is not in tokenizer.json's vocabulary`);
      return id;
    };
    this.bosTokenId = idOf('bos_token');
    this.eosTokenId = idOf('eos_token');
    this.padTokenId = idOf('pad_token');

    this.addFromFlags = specialTokenPolicy(config, tokenizerJson.post_processor != null) === 'flags';
    // As in transformers, a flag whose token is unset adds nothing.
    this.addBos = config.add_bos_token === true && this.bosTokenId !== null;
    this.addEos = config.add_eos_token === true && this.eosTokenId !== null;
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;

    let maxId = -1;
    for (const id of this.tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    this.specialTokenText = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const text = tokenContent(config[key]);
      if (text !== null) this.specialTokenText[key] = text;
    }
    this.chatTemplate = chatTemplate;
  }

  /**
   * Reads tokenizer.json (required), tokenizer_config.json and special_tokens_map.json (both
   * optional) and the chat template (chat_template.jinja, or the config's chat_template).
   */
  static async load(source: ModelSource): Promise<TextTokenizer> {
    const where = source.description;
    const json = await readJsonIfExists<Record<string, unknown>>(source, 'tokenizer.json');
    if (json === null) {
      throw new Error(`${where} has no tokenizer.json: this project reads the Hugging Face fast-tokenizer file and cannot turn text into ids without it`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof json.model !== 'object' || json.model === null || Array.isArray(json.model)) {
      throw new Error(`${where}/tokenizer.json has no "model" section; it is not a Hugging Face tokenizer file`);
    }
    const config = checkTokenizerConfig(await readJsonIfExists(source, 'tokenizer_config.json'), `${where}/tokenizer_config.json`);
    const specialMap = checkTokenizerConfig(await readJsonIfExists(source, 'special_tokens_map.json'), `${where}/special_tokens_map.json`);
    const merged = mergeTokenizerConfig(config, specialMap);
    const chatTemplate = await loadChatTemplate(source, merged.chat_template);
    return new TextTokenizer(json, merged, chatTemplate, where, config);
  }

  /**
   * Token ids of `text`. With addSpecialTokens (the default) the ids carry what the model expects
   * around a single sequence: BOS for Llama-family tokenizers, nothing for GPT-2.
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    const addSpecial = opts.addSpecialTokens ?? true;
    if (!this.addFromFlags) return this.checkedIds(this.tokenizer.encode(text, { add_special_tokens: addSpecial }));
    const ids = this.checkedIds(this.tokenizer.encode(text, { add_special_tokens: false }));
    if (addSpecial && this.addBos) ids.unshift(this.bosTokenId!);
    if (addSpecial && this.addEos) ids.push(this.eosTokenId!);
    return ids;
  }

  /**
   * The ids of an encoding, unless a token has none: the library then gives undefined (a piece
   * that is not in the vocabulary of a tokenizer without unk_token, e.g. a byte-level vocabulary
   * missing a byte), which would otherwise travel on as a silent NaN.
   */
  private checkedIds(encoding: { ids: number[]; tokens: string[] }): number[] {
    const at = encoding.ids.findIndex((id) => id === undefined);
    if (at < 0) return encoding.ids;
    throw new Error(`${this.where}/tokenizer.json: the token ${JSON.stringify(encoding.tokens[at])} has no id (it is not in the vocabulary, and model.unk_token names no token)`);
  }

  /**
   * The ids encode() puts in front of every text's own ids when it adds special tokens (BOS for
   * Llama-family tokenizers, none for GPT-2), so that encode(text) starts with these followed by
   * encode(text, { addSpecialTokens: false }); null where that cannot be known from the
   * tokenizer's settings. Found once: from the config's flags, or by running tokenizer.json's
   * post-processor (which places special tokens around the text's tokens without reading them) on
   * a single marker token.
   */
  leadingSpecialIds(): number[] | null {
    if (this.leadingSpecials === undefined) this.leadingSpecials = this.findLeadingSpecials();
    return this.leadingSpecials === null ? null : [...this.leadingSpecials];
  }

  private findLeadingSpecials(): number[] | null {
    if (this.addFromFlags) return this.addBos ? [this.bosTokenId!] : [];
    const library = this.tokenizer as unknown as {
      post_processor: ((tokens: string[], pair: null, addSpecial: boolean) => { tokens: string[] }) | null;
      added_tokens_map: Map<string, { id: number }>;
      model: { tokens_to_ids: Map<string, number>; unk_token_id?: number };
    };
    if (library.post_processor === null) return [];
    const marker = '\u0000webgpu-lora text marker\u0000';
    let tokens: string[];
    try {
      tokens = library.post_processor([marker], null, true).tokens;
    } catch {
      return null;
    }
    const at = tokens.indexOf(marker);
    if (at < 0 || tokens.indexOf(marker, at + 1) >= 0) return null;
    // Tokens → ids exactly as the library's encode() maps them.
    const ids = tokens.slice(0, at).map((t) => library.added_tokens_map.get(t)?.id ?? library.model.tokens_to_ids.get(t) ?? library.model.unk_token_id);
    return ids.every((id) => typeof id === 'number') ? (ids as number[]) : null;
  }

  /** The text of `ids`; special tokens (BOS, EOS, ...) are left out unless skipSpecialTokens is false. */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    // The library rejects an empty list; the text of no tokens is the empty string.
    if (ids.length === 0) return '';
    return this.tokenizer.decode(Array.from(ids), {
      skip_special_tokens: opts.skipSpecialTokens ?? true,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  /** The token string of one id (e.g. '▁Once', '<0x0A>'), or undefined outside the vocabulary. */
  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /** The id of one token string, or undefined when the vocabulary lacks it. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /**
   * The conversation rendered by the model's chat template, as text (encode it with
   * addSpecialTokens: false when the template writes BOS itself). With addGenerationPrompt the
   * text ends with the header that opens the assistant's reply.
   */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    if (this.chatTemplate === null) {
      throw new Error(
        `${this.where} has no chat template (neither chat_template.jinja nor tokenizer_config.json's chat_template); ` +
          'format the conversation as plain text instead, or use a model with a chat template',
      );
    }
    this.compiledTemplate ??= compileChatTemplate(this.chatTemplate, this.where);
    return renderChatTemplate(this.compiledTemplate, messages, opts.addGenerationPrompt ?? false, this.specialTokenText);
  }

  /**
   * The empty reasoning block (Qwen3: '<think>\n\n</think>\n\n') the chat template writes at the
   * start of every reply, which a model trained on its output therefore writes too; null when the
   * template writes none (or there is no template). Generation keeps it out of the answer.
   */
  get reasoningFormat(): ReasoningFormat | null {
    if (this.reasoning === undefined) {
      this.reasoning = this.chatTemplate === null ? null : findReasoningFormat((m, gen) => this.applyChatTemplate(m, { addGenerationPrompt: gen }));
    }
    return this.reasoning;
  }
}
