// Which tokens of a chat-template conversation are the assistant's replies.
//
// The template writes the whole conversation as one text, tokenized like transformers'
// apply_chat_template(tokenize=True) does: without adding special tokens (a template that wants
// BOS writes it). Each reply is found incrementally: for the assistant message at index i,
//   before  = template(messages[0..i), add_generation_prompt = true)   ends with the reply's header
//   through = template(messages[0..i])                                  ends with the reply's turn
// and the reply is the tokens between the two. This holds only when the template is
// prefix-stable (rendering a conversation's beginning gives a prefix of rendering all of it) and
// the tokens do not merge across those boundaries; both are checked, and a template that breaks
// either is reported rather than guessed at.
import type { ChatMessage } from '../tokenize/tokenizer.js';
import type { FormatTokenizer, Segment } from './format.js';

/**
 * The conversation as segments: template text (not learned) and replies (learned). A reply
 * whose turn does not contain EOS gets one appended, so that the model learns to stop.
 */
export function chatSegments(messages: ChatMessage[], tokenizer: FormatTokenizer, eos: number): Segment[] {
  const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
  const full = tokenizer.applyChatTemplate(messages);
  const fullIds = encode(full);

  /** The number of leading tokens of the whole conversation that `text` (a prefix of it) covers. */
  const tokensOf = (text: string, turn: number, what: string): number => {
    if (!full.startsWith(text)) {
      throw notPrefixStable(turn, `the text of the conversation ${what} is not the beginning of the text of the whole conversation`);
    }
    const ids = encode(text);
    if (ids.length > fullIds.length || ids.some((id, k) => fullIds[k] !== id)) {
      throw notPrefixStable(turn, `the tokens of the conversation ${what} are not the first tokens of the whole conversation (tokens merge across the boundary)`);
    }
    return ids.length;
  };

  const segments: Segment[] = [];
  let done = 0;
  let turn = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    turn++;
    const before = tokenizer.applyChatTemplate(messages.slice(0, i), { addGenerationPrompt: true });
    const start = tokensOf(before, turn, `up to reply ${turn} (with the generation prompt)`);
    const end = tokensOf(tokenizer.applyChatTemplate(messages.slice(0, i + 1)), turn, `through reply ${turn}`);
    if (start < done || end <= start) {
      throw notPrefixStable(turn, `reply ${turn} does not lie after the text before it (tokens ${start} to ${end}, previous reply ended at ${done})`);
    }
    segments.push({ ids: fullIds.slice(done, start), learn: false });
    const reply = fullIds.slice(start, end);
    if (!reply.includes(eos)) reply.push(eos);
    segments.push({ ids: reply, learn: true });
    done = end;
  });
  segments.push({ ids: fullIds.slice(done), learn: false });
  return segments;
}

function notPrefixStable(turn: number, why: string): Error {
  return new Error(
    `cannot find the tokens of assistant reply ${turn} in this chat template's output: ${why}. ` +
      'Training needs a template that writes a conversation the same way whether or not more turns follow; ' +
      'use one-turn examples, or a model folder whose chat template has that property',
  );
}
