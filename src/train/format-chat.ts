// Which tokens of a chat-template conversation are the assistant's replies, by the rule of
// ../shared/golden-format/README.md: a reply is learned in exactly the context the model gets when
// it generates that reply, and the learned tokens are exactly what it must then generate.
//
// The template writes a conversation as text, tokenized like transformers'
// apply_chat_template(tokenize=True): without adding special tokens (a template that wants BOS
// writes it). For the assistant message at index i,
//   before  = template(messages[0..i), add_generation_prompt = true)   the context generation gives
//   through = template(messages[0..i])                                  the context and the reply's turn
// and the reply's turn is the text through adds to before (through must start with before).
// - One sequence per conversation, every reply learned, where the template is prefix-stable (the
//   whole conversation's text starts with each `through`) and no tokens merge at a boundary (the
//   tokens of each `before` and `through` are the first tokens of the whole conversation's).
// - Otherwise one sequence per reply: the tokens of `before`, then the reply's turn (the tokens
//   that follow them in `through`'s, or where tokens merge there, the turn tokenized on its own).
//   Qwen3 needs this for several turns (it drops the <think> block of earlier replies), and any
//   template where a reply's first characters merge with the end of the generation prompt (a
//   reply that starts with a newline after 'assistant\n').
// A reply whose turn does not contain EOS gets one appended, so that the model learns to stop.
import type { ChatMessage } from '../tokenize/tokenizer.js';
import type { FormatTokenizer, Segment } from './format.js';

/** One assistant reply: the text before it (with the generation prompt), and through its turn. */
interface Turn {
  before: string;
  through: string;
}

/** A conversation as training sequences, and how it became them (reference.json's "how", in short). */
export interface ChatSequences {
  /** Each a list of segments: template text (not learned) and replies (learned). */
  sequences: Segment[][];
  /** 'one sequence', or 'one sequence per reply (<why>)'. */
  how: string;
}

/** The conversation as training sequences: one, or one per reply (see above). */
export function chatSequences(messages: ChatMessage[], tokenizer: FormatTokenizer, eos: number): ChatSequences {
  const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
  const turns: Turn[] = [];
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const before = tokenizer.applyChatTemplate(messages.slice(0, i), { addGenerationPrompt: true });
    const through = tokenizer.applyChatTemplate(messages.slice(0, i + 1));
    if (!through.startsWith(before)) throw generationPromptMismatch(turns.length + 1);
    turns.push({ before, through });
  });
  const withEos = (reply: number[]) => (reply.includes(eos) ? reply : [...reply, eos]);

  const one = oneSequence(messages, turns, tokenizer, encode);
  if ('fullIds' in one) {
    const { fullIds, bounds } = one;
    const segments: Segment[] = [];
    let done = 0;
    for (const [start, end] of bounds) {
      segments.push({ ids: fullIds.slice(done, start), learn: false });
      segments.push({ ids: withEos(fullIds.slice(start, end)), learn: true });
      done = end;
    }
    segments.push({ ids: fullIds.slice(done), learn: false });
    return { how: 'one sequence', sequences: [segments.filter((s) => s.ids.length > 0)] };
  }
  return {
    how: `one sequence per reply (${one.why})`,
    sequences: turns.map(({ before, through }) => {
      const context = encode(before);
      return [
        { ids: context, learn: false },
        { ids: withEos(replyIds(context, before, through, encode)), learn: true },
      ];
    }),
  };
}

/**
 * The tokens of a reply's turn after its context: the end of `through`'s tokens where they begin
 * with the context's (the tokens that follow the context, as generation continues it: a tokenizer
 * that marks the start of a text, such as Llama 2's with its '▁', would mark a turn tokenized on
 * its own); else, where tokens merge across the boundary, the turn's text tokenized on its own.
 */
function replyIds(context: number[], before: string, through: string, encode: (text: string) => number[]): number[] {
  const whole = encode(through);
  if (context.length < whole.length && context.every((id, k) => whole[k] === id)) return whole.slice(context.length);
  return encode(through.slice(before.length));
}

/**
 * The whole conversation's ids and each reply's [start, end) in them, when the conversation can
 * be one sequence: every `through` begins the whole text, the tokens of every `before` and
 * `through` begin its tokens, and each reply starts at or after the end of the one before it.
 * Otherwise why not.
 */
function oneSequence(
  messages: ChatMessage[],
  turns: Turn[],
  tokenizer: FormatTokenizer,
  encode: (text: string) => number[],
): { fullIds: number[]; bounds: Array<[number, number]> } | { why: string } {
  const full = tokenizer.applyChatTemplate(messages);
  if (!turns.every((t) => full.startsWith(t.through))) return { why: 'the template is not prefix-stable' };
  const fullIds = encode(full);
  const begins = (ids: number[]) => ids.length <= fullIds.length && ids.every((id, k) => fullIds[k] === id);
  const bounds: Array<[number, number]> = [];
  let done = 0;
  for (const { before, through } of turns) {
    const start = encode(before);
    const end = encode(through);
    if (!begins(start) || !begins(end)) return { why: 'tokens merge at a reply boundary' };
    if (start.length < done || end.length <= start.length) return { why: 'the replies overlap in the tokens' };
    bounds.push([start.length, end.length]);
    done = end.length;
  }
  return { fullIds, bounds };
}

function generationPromptMismatch(turn: number): Error {
  return new Error(
    `cannot find the tokens of assistant reply ${turn} in this chat template's output: the text of the conversation up to reply ${turn} ` +
      `(with the generation prompt) is not the beginning of the text through reply ${turn}, so the template does not write a reply ` +
      'after the prompt a model is given to generate it. Use a model folder whose chat template does',
  );
}
