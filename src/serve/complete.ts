// One answer: generation from prompt ids, decoded as it streams, with the reasoning block taken
// out and the stop strings applied. It composes the same pieces in the same order as
// generate/text.ts's generateTextFromIds (which `webgpu-lora generate` runs): each new id's text
// from a StreamDecoder, through a ReasoningSplitter when the template writes reasoning blocks,
// to the answer; here the answer then passes a StopMatcher, which can end generation early.
// Without stop strings the text is exactly generateTextFromIds's for the same ids and settings.
import { generateTokens } from '../generate/generate.js';
import { ReasoningSplitter } from '../generate/text.js';
import type { LowRankUpdates } from '../model/linear.js';
import type { LanguageModel } from '../model/model.js';
import { StreamDecoder, type ReasoningFormat, type TextTokenizer } from '../tokenize/tokenizer.js';
import type { Prompt } from './prompt.js';
import type { SamplingRequest } from './requests.js';
import { StopMatcher } from './stop.js';

/** What the server serves: one model, its tokenizer, an optional adapter, and the name it answers with. */
export interface ServedModel {
  model: LanguageModel;
  tokenizer: TextTokenizer;
  lora?: LowRankUpdates;
  /** The model id of /v1/models and of every response. */
  id: string;
}

export interface Completion {
  /** The answer, without the prompt, special tokens, the reasoning block and a stop string. */
  text: string;
  /** A non-empty reasoning block's text (Qwen3's <think>…</think>), as generate reports it. */
  reasoning?: string;
  /** 'stop': EOS or a stop string ended it; 'length': max_tokens or the model's positions did. */
  finishReason: 'stop' | 'length';
  promptTokens: number;
  /** The tokens generated, a final EOS included. */
  completionTokens: number;
}

export interface CompleteOptions {
  /** Each new piece of the answer, as soon as it is certain (see stop.ts). */
  onText?: (text: string) => void;
  /** Ends generation between tokens (the client went away, or the server is stopping). */
  signal?: AbortSignal;
}

/** Thrown from the token callback to end generation at a stop string (generateTokens stops at once). */
const STOP = Symbol('stop string reached');

export async function complete(served: ServedModel, prompt: Prompt, req: SamplingRequest, opts: CompleteOptions = {}): Promise<Completion> {
  const { model, tokenizer, lora } = served;
  let text = '';
  const stopper = new StopMatcher(req.stop, (piece) => {
    text += piece;
    opts.onText?.(piece);
  });
  const format = reasoningFormat(tokenizer, prompt.ids);
  const split = format ? new ReasoningSplitter(format, (piece) => stopper.push(piece)) : null;
  const emit = split ? (piece: string) => split.push(piece) : (piece: string) => stopper.push(piece);
  const stream = new StreamDecoder(tokenizer, prompt.ids);
  let completionTokens = 0;
  let lengthLimited = false;
  try {
    const result = await generateTokens(model, prompt.ids, {
      temperature: req.temperature,
      topK: req.topK,
      topP: req.topP,
      seed: req.seed,
      maxNewTokens: req.maxTokens,
      eosTokenIds: prompt.eosTokenIds,
      lora,
      signal: opts.signal,
      onToken: (id) => {
        completionTokens++;
        emit(stream.push(id));
        if (stopper.stopped) throw STOP;
      },
    });
    emit(stream.flush());
    lengthLimited = result.stopReason !== 'eos';
  } catch (e) {
    if (e !== STOP) throw e;
  }
  const reasoning = split?.finish();
  const stoppedByString = stopper.stopped;
  stopper.finish();
  return {
    text,
    ...(reasoning ? { reasoning } : {}),
    finishReason: lengthLimited && !stoppedByString ? 'length' : 'stop',
    promptTokens: prompt.ids.length,
    completionTokens,
  };
}

/**
 * The reasoning format to take out of the answer, by generateTextFromIds's default rule: the
 * tokenizer's template writes a reasoning block, and the prompt ends with its generation prompt.
 */
function reasoningFormat(tokenizer: TextTokenizer, promptIds: number[]): ReasoningFormat | null {
  const format = tokenizer.reasoningFormat;
  if (!format) return null;
  const tail = tokenizer.decode(promptIds.slice(-32), { skipSpecialTokens: false });
  return tail.endsWith(format.generationPrompt) ? format : null;
}
