// Text in, text out: tokenize a prompt, generate, and stream the decoded continuation.
import type { LanguageModel } from '../model/model.js';
import { StreamDecoder, type TextTokenizer } from '../tokenize/tokenizer.js';
import { generateTokens, type GenerateOptions, type GenerateResult } from './generate.js';

export interface GenerateTextOptions extends Omit<GenerateOptions, 'onToken'> {
  /** Called with each newly completed piece of text. */
  onText?: (text: string) => void;
}

export interface GenerateTextResult extends GenerateResult {
  promptIds: number[];
  /** The decoded continuation, without the prompt and without special tokens. */
  text: string;
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
  let text = '';
  const emit = (piece: string) => {
    if (!piece) return;
    text += piece;
    opts.onText?.(piece);
  };
  const result = await generateTokens(model, promptIds, { ...opts, onToken: (id) => emit(stream.push(id)) });
  emit(stream.flush());
  return { ...result, promptIds, text };
}
