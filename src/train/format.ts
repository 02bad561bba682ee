// A conversation → the token ids a model trains on and the labels its loss reads: one sequence,
// or (with some chat templates, see format-chat.ts) one per reply.
//
// Labels follow the Hugging Face convention: labels[t] is the token the model should predict at
// position t, from the tokens before it (the loss shifts by one; it is not shifted here), and
// -100 means "no loss here". By default only the assistant's replies are learned: every prompt
// token is -100, every reply token and the EOS that ends the reply carry their id.
//
// Two ways to write a conversation as text:
// - the model's chat template, when its tokenizer has one (see format-chat.ts);
// - otherwise this plain template, for base models (the blocks repeat for more turns, each later
//   block after a blank line, since the EOS that ends a reply is not visible as text):
//       {system}\n\n            (only when there is a system message)
//       ### Input:\n{user}\n\n### Output:\n{assistant}<EOS>
//   Each block is tokenized as one text and split where its prompt's tokens end (see
//   splitEncode), so the reply's tokens are the ones that follow the prompt at generation time.
import type { ChatMessage, TextTokenizer } from '../tokenize/tokenizer.js';
import { chatSequences } from './format-chat.js';
import { conversationProblems } from './records.js';

/** The tokenizer methods formatting uses (a TextTokenizer has them all). */
export type FormatTokenizer = Pick<TextTokenizer, 'encode' | 'applyChatTemplate' | 'chatTemplate' | 'bosTokenId' | 'eosTokenId'> &
  Partial<Pick<TextTokenizer, 'leadingSpecialIds'>>;

/** The label of a token the loss skips. */
export const IGNORE_INDEX = -100;

export interface FormatOptions {
  /** Keep only the first maxLength tokens (a positive integer). Default: no limit. */
  maxLength?: number;
  /** Learn the prompt tokens too, not only the replies (everything but the first token). Default false. */
  trainOnInputs?: boolean;
}

export interface FormattedExample {
  /** One training sequence. Token ids, at most maxLength of them. */
  ids: number[];
  /** Same length as ids; IGNORE_INDEX (-100) where there is no loss. */
  labels: number[];
  /** The length before truncation. */
  fullLength: number;
  /** Whether tokens were cut off the end to fit maxLength. */
  truncated: boolean;
  /**
   * How many labels are not -100. Zero means truncation cut off every reply token: the example
   * teaches nothing, and a trainer should skip it and say so.
   */
  trainableTokens: number;
}

/** A run of ids, learned (a reply and its EOS) or not (prompt, template text). */
export interface Segment {
  ids: number[];
  learn: boolean;
}

/** A conversation's training sequences (usually one), and how it became them. */
export interface FormattedConversation {
  sequences: FormattedExample[];
  /** 'one sequence', or 'one sequence per reply (<why>)' (see format-chat.ts). */
  how: string;
}

/**
 * The training sequences of one conversation ([system?] user, assistant, ...): in the chat
 * template when the tokenizer has one (one sequence, or one per reply where the template needs it:
 * see format-chat.ts), else in the plain template (one sequence). Each reply is followed by EOS
 * unless the template already ends the turn with it. Training and `webgpu-lora tokenize` both
 * take their sequences from here.
 */
export function formatConversation(
  example: ChatMessage[] | { messages: ChatMessage[] },
  tokenizer: FormatTokenizer,
  opts: FormatOptions = {},
): FormattedConversation {
  const messages = Array.isArray(example) ? example : example.messages;
  const maxLength = opts.maxLength ?? Infinity;
  if (maxLength !== Infinity && !(Number.isInteger(maxLength) && maxLength > 0)) {
    throw new Error(`maxLength must be a positive integer, not ${maxLength}`);
  }
  const shape = conversationProblems(messages);
  if (shape.length) throw new Error(`cannot format this conversation: ${shape.join('; ')}`);
  const eos = requireEos(tokenizer);
  const { sequences, how } =
    tokenizer.chatTemplate !== null ? chatSequences(messages, tokenizer, eos) : { sequences: [plainSegments(messages, tokenizer, eos)], how: 'one sequence' };
  return { how, sequences: sequences.map((segments) => toSequence(segments, maxLength, opts.trainOnInputs ?? false)) };
}

/**
 * Token ids and labels for a conversation that is one training sequence (as every one is in the
 * plain template, and in a chat template that is prefix-stable and merges no tokens at a reply
 * boundary). Throws for a conversation that becomes several sequences: use formatConversation.
 */
export function formatExample(
  example: ChatMessage[] | { messages: ChatMessage[] },
  tokenizer: FormatTokenizer,
  opts: FormatOptions = {},
): FormattedExample {
  const { sequences, how } = formatConversation(example, tokenizer, opts);
  if (sequences.length !== 1) {
    throw new Error(`this conversation becomes ${sequences.length} training sequences, ${how}; formatConversation gives them all`);
  }
  return sequences[0];
}

/** Segments → one sequence's ids and labels, cut at maxLength. */
function toSequence(segments: Segment[], maxLength: number, trainOnInputs: boolean): FormattedExample {
  const ids: number[] = [];
  const labels: number[] = [];
  for (const s of segments) {
    for (const id of s.ids) {
      ids.push(id);
      labels.push(s.learn || trainOnInputs ? id : IGNORE_INDEX);
    }
  }
  // Nothing comes before the first token (BOS or not), so nothing can learn to predict it.
  if (labels.length > 0) labels[0] = IGNORE_INDEX;

  const fullLength = ids.length;
  const truncated = fullLength > maxLength;
  if (truncated) {
    ids.length = maxLength;
    labels.length = maxLength;
  }
  return { ids, labels, fullLength, truncated, trainableTokens: labels.filter((l) => l !== IGNORE_INDEX).length };
}

/**
 * The ids a trained model is given at generation time for one input: exactly the prompt part of
 * formatExample for the conversation [system?, user, assistant] (the chat template with its
 * generation prompt, or the plain template up to "### Output:\n"), so that the model answers it
 * the way it was trained.
 */
export function formatPrompt(userText: string, tokenizer: FormatTokenizer, system?: string): number[] {
  const messages: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];
  messages.push({ role: 'user', content: userText });
  if (tokenizer.chatTemplate !== null) {
    return tokenizer.encode(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { addSpecialTokens: false });
  }
  return encodeWithLeadingSpecials(plainPrompt(userText, system), tokenizer);
}

/** The plain template's text for one turn's prompt, up to and including "### Output:\n". */
export function plainPrompt(user: string, system?: string): string {
  return `${system ? `${system}\n\n` : ''}### Input:\n${user}\n\n### Output:\n`;
}

/** Separates a later turn's "### Input:" block from the reply before it. */
const PLAIN_TURN_SEPARATOR = '\n\n';

/**
 * The plain template as a Jinja chat template, for the places that need one written out (the
 * Ollama Modelfile of an exported model without a chat template: ../export/modelfile.ts). It
 * renders the text plainSegments tokenizes: a first system message, then each "### Input:"
 * block, each reply followed by the EOS text and each later block after a blank line; later
 * system messages are left out, as plainSegments leaves them. The prompt already ends with
 * "### Output:\n", so add_generation_prompt adds nothing.
 */
export const PLAIN_CHAT_TEMPLATE =
  "{%- for m in messages -%}{%- if m.role == 'system' -%}{%- if loop.first -%}{{ m.content + '\\n\\n' }}{%- endif -%}" +
  "{%- elif m.role == 'user' -%}{%- if loop.index0 > 0 and loop.previtem.role == 'assistant' -%}{{ '\\n\\n' }}{%- endif -%}" +
  "{{ '### Input:\\n' + m.content + '\\n\\n### Output:\\n' }}" +
  "{%- elif m.role == 'assistant' -%}{{ m.content + eos_token }}{%- endif -%}{%- endfor -%}";

/**
 * The plain template: the first prompt with the tokenizer's special tokens (BOS where it adds
 * one), replies and later prompts without, each reply followed by EOS.
 */
function plainSegments(messages: ChatMessage[], tokenizer: FormatTokenizer, eos: number): Segment[] {
  const system = messages[0].role === 'system' ? messages[0].content : undefined;
  const segments: Segment[] = [];
  let user = '';
  for (const m of messages) {
    if (m.role === 'user') {
      user = m.content;
    } else if (m.role === 'assistant') {
      const [prompt, reply] =
        segments.length === 0
          ? splitEncode(plainPrompt(user, system), m.content, (t) => encodeWithLeadingSpecials(t, tokenizer), tokenizer)
          : splitEncode(PLAIN_TURN_SEPARATOR + plainPrompt(user), m.content, (t) => tokenizer.encode(t, { addSpecialTokens: false }), tokenizer);
      segments.push({ ids: prompt, learn: false });
      segments.push({ ids: [...reply, eos], learn: true });
    }
  }
  return segments;
}

/**
 * The ids of prompt + reply, split at the end of the prompt. The two are encoded as one text, so
 * the reply's first token is the one the model sees after the prompt at generation time (encoded
 * alone, a Llama tokenizer's normalizer would put its word-start mark ▁, a space, in front of the
 * reply). This needs encode(prompt) to be exactly the first tokens of encode(prompt + reply) (no
 * token merging across the boundary), which is checked; where it fails, prompt and reply are
 * encoded separately, so the prompt part is always encode(prompt) (what formatPrompt gives).
 */
function splitEncode(prompt: string, reply: string, encode: (text: string) => number[], tokenizer: FormatTokenizer): [number[], number[]] {
  const promptIds = encode(prompt);
  const whole = encode(prompt + reply);
  const isPrefix = promptIds.length <= whole.length && promptIds.every((id, k) => whole[k] === id);
  if (isPrefix) return [promptIds, whole.slice(promptIds.length)];
  return [promptIds, tokenizer.encode(reply, { addSpecialTokens: false })];
}

/**
 * `text` encoded with the special tokens the tokenizer puts in front (BOS for Llama-family
 * tokenizers, nothing for GPT-2), but none that it would append (add_eos_token): a prompt must
 * not end with EOS.
 */
function encodeWithLeadingSpecials(text: string, tokenizer: FormatTokenizer): number[] {
  // One encode where the tokenizer knows its leading special tokens (a TextTokenizer does).
  const leading = tokenizer.leadingSpecialIds?.() ?? null;
  if (leading !== null) return [...leading, ...tokenizer.encode(text, { addSpecialTokens: false })];
  const withSpecials = tokenizer.encode(text);
  const plain = tokenizer.encode(text, { addSpecialTokens: false });
  for (let start = 0; start + plain.length <= withSpecials.length; start++) {
    if (plain.every((id, k) => withSpecials[start + k] === id)) return withSpecials.slice(0, start + plain.length);
  }
  return withSpecials;
}

function requireEos(tokenizer: FormatTokenizer): number {
  if (tokenizer.eosTokenId === null) {
    throw new Error(
      'the tokenizer has no EOS token (tokenizer_config.json sets no eos_token), so a trained model could not learn where a reply ends; ' +
        'set eos_token in tokenizer_config.json',
    );
  }
  return tokenizer.eosTokenId;
}
