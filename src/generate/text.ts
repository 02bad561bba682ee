// Text in, text out: tokenize a prompt, generate, and stream the decoded continuation.
//
// A model trained on a chat template that writes a reasoning block before every reply (Qwen3:
// '<think>\n\n</think>\n\n', empty) writes that block first when it answers. It is not part of
// the answer: the text and onText leave it out, and a block with something in it is returned on
// its own as `reasoning`.
import type { LanguageModel } from '../model/model.js';
import { StreamDecoder, type ReasoningFormat, type TextTokenizer } from '../tokenize/tokenizer.js';
import { generateTokens, type GenerateOptions, type GenerateResult } from './generate.js';

export interface GenerateTextOptions extends Omit<GenerateOptions, 'onToken'> {
  /** Called with each newly completed piece of the answer's text (never the reasoning block's). */
  onText?: (text: string) => void;
  /**
   * Whether a leading reasoning block of the chat template's format is taken out of the answer.
   * Default: when the tokenizer's template writes one and the prompt ends with its generation
   * prompt (a prompt formatted as a chat input, as formatPrompt makes it).
   */
  splitReasoning?: boolean;
}

export interface GenerateTextResult extends GenerateResult {
  promptIds: number[];
  /** The decoded continuation, without the prompt, special tokens and the reasoning block. */
  text: string;
  /** The reasoning block's text, when the model wrote a non-empty one (without its tags and surrounding newlines). */
  reasoning?: string;
}

/** The continuation of `prompt` (encoded with the tokenizer's special tokens, e.g. BOS). */
export function generateText(
  model: LanguageModel,
  tokenizer: TextTokenizer,
  prompt: string,
  opts: GenerateTextOptions = {},
): Promise<GenerateTextResult> {
  return generateTextFromIds(model, tokenizer, tokenizer.encode(prompt), opts);
}

/**
 * The continuation of prompt ids made elsewhere (e.g. formatPrompt's, for a trained adapter),
 * decoded as it streams: each new piece reads as it does after the prompt, and special tokens
 * (EOS) leave no text.
 */
export async function generateTextFromIds(
  model: LanguageModel,
  tokenizer: TextTokenizer,
  promptIds: number[],
  opts: GenerateTextOptions = {},
): Promise<GenerateTextResult> {
  const stream = new StreamDecoder(tokenizer, promptIds);
  const format = reasoningToSplit(tokenizer, promptIds, opts.splitReasoning);
  let text = '';
  const answer = (piece: string) => {
    if (!piece) return;
    text += piece;
    opts.onText?.(piece);
  };
  const split = format ? new ReasoningSplitter(format, answer) : null;
  const emit = split ? (piece: string) => split.push(piece) : answer;
  const result = await generateTokens(model, promptIds, { ...opts, onToken: (id) => emit(stream.push(id)) });
  emit(stream.flush());
  const reasoning = split?.finish();
  return { ...result, promptIds, text, ...(reasoning ? { reasoning } : {}) };
}

/** The reasoning format to take out of this generation's answer, or null. */
function reasoningToSplit(tokenizer: TextTokenizer, promptIds: number[], requested: boolean | undefined): ReasoningFormat | null {
  if (requested === false) return null;
  const format = tokenizer.reasoningFormat;
  if (!format || requested === true) return format;
  // The prompt's last tokens, special tokens included, must end with the generation prompt.
  const tail = tokenizer.decode(promptIds.slice(-32), { skipSpecialTokens: false });
  return tail.endsWith(format.generationPrompt) ? format : null;
}

/**
 * Takes a leading reasoning block out of streamed text. At the start, text is held back while it
 * could still be the opening tag (after whitespace); text that cannot be goes to the answer as
 * it is. Inside the block, text is held until the closing tag; after it, the template's
 * separator (as much of it as the model wrote) is dropped and the rest is the answer.
 */
export class ReasoningSplitter {
  private state: 'start' | 'reasoning' | 'separator' | 'answer' = 'start';
  private held = '';
  private reasoning = '';

  constructor(
    private readonly format: ReasoningFormat,
    private readonly answer: (text: string) => void,
  ) {}

  /** One streamed piece of the model's text. */
  push(piece: string): void {
    this.held += piece;
    if (this.state === 'start') {
      const rest = this.held.trimStart();
      if (rest.length < this.format.open.length && this.format.open.startsWith(rest)) return; // may still open the block
      if (!rest.startsWith(this.format.open)) return this.toAnswer(this.held);
      this.state = 'reasoning';
      this.held = rest.slice(this.format.open.length);
    }
    if (this.state === 'reasoning') {
      const end = this.held.indexOf(this.format.close);
      if (end < 0) return;
      this.reasoning = this.held.slice(0, end);
      this.state = 'separator';
      this.held = this.held.slice(end + this.format.close.length);
    }
    if (this.state === 'separator') {
      const sep = this.format.separator;
      if (this.held.length < sep.length && sep.startsWith(this.held)) return; // may still be the separator
      return this.toAnswer(this.held.slice(commonPrefix(this.held, sep)));
    }
    if (this.state === 'answer') this.toAnswer(this.held);
  }

  /**
   * At the end of the stream: what is still held goes to the answer (a block never closed is
   * all reasoning). Returns the reasoning, without the newlines around it, or undefined when
   * there was no block or an empty one.
   */
  finish(): string | undefined {
    if (this.state === 'start' || this.state === 'separator') this.toAnswer(this.state === 'start' ? this.held : this.held.slice(commonPrefix(this.held, this.format.separator)));
    else if (this.state === 'reasoning') this.reasoning = this.held;
    this.held = '';
    const reasoning = this.reasoning.replace(/^\n+|\n+$/g, '');
    return reasoning.trim() === '' ? undefined : reasoning;
  }

  private toAnswer(text: string): void {
    this.state = 'answer';
    this.held = '';
    this.answer(text);
  }
}

/** The length of the longest common prefix of a and b. */
function commonPrefix(a: string, b: string): number {
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
}
