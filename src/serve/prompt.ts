// A request's prompt as token ids, built exactly as `webgpu-lora generate` builds its prompt, and
// the ids that end the answer.
//
// - /v1/completions continues raw text, as `generate --prompt` does: the text encoded with the
//   tokenizer's special tokens (BOS for Llama-family tokenizers). Token ids are used as given.
//   Generation stops at the model's EOS ids (generation_config.json), as generate's does.
// - /v1/chat/completions answers a conversation in the form training gives it, as
//   `generate --input` does (train/format.ts formatPrompt), generalized to several messages:
//   - a tokenizer with a chat template: the template's text of the messages with the generation
//     prompt, encoded without special tokens (the template writes BOS where it wants one);
//   - a base model without one: the plain template that training uses for such models
//     ("{system}\n\n### Input:\n{user}\n\n### Output:\n{reply}<EOS>", repeated for each turn).
//     A server for a fine-tuned base model answers the way the adapter was trained, so this is
//     what `generate --input` does there rather than a 400. The plain template needs the
//     conversation shaped as training shapes it: an optional system message, then user and
//     assistant turns alternating, ending with the user's.
//   Generation stops at the model's EOS ids and the tokenizer's EOS (which ends every trained
//   reply), as generate --input's does.
import type { LanguageModel } from '../model/model.js';
import type { ChatMessage, TextTokenizer } from '../tokenize/tokenizer.js';
import { formatConversation } from '../train/format.js';
import { ApiError, invalidField } from './errors.js';

export interface Prompt {
  ids: number[];
  /** The token ids that end generation. */
  eosTokenIds: number[];
}

/** The prompt of a /v1/completions request (a 400 naming 'prompt' when it cannot be one). */
export function completionPrompt(prompt: string | number[], model: LanguageModel, tokenizer: TextTokenizer): Prompt {
  let ids: number[];
  if (typeof prompt === 'string') {
    ids = tokenizer.encode(prompt);
  } else {
    const V = model.spec.V;
    prompt.forEach((id, k) => {
      if (id >= V) throw invalidField(`prompt.[${k}]`, `'prompt.[${k}]' is token id ${id}, outside the model's vocabulary of ${V} tokens`);
    });
    ids = prompt;
  }
  checkLength(ids, model, 'prompt');
  return { ids, eosTokenIds: model.eosTokenIds };
}

/** The prompt of a /v1/chat/completions request (a 400 naming the message when it cannot be one). */
export function chatPrompt(messages: ChatMessage[], model: LanguageModel, tokenizer: TextTokenizer): Prompt {
  let ids: number[];
  if (tokenizer.chatTemplate !== null) {
    let text: string;
    try {
      text = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    } catch (e) {
      throw invalidField('messages', `the model's chat template rejects these messages: ${(e as Error).message}`);
    }
    ids = tokenizer.encode(text, { addSpecialTokens: false });
  } else {
    ids = plainTemplatePrompt(messages, tokenizer);
  }
  checkLength(ids, model, 'messages');
  const eos = tokenizer.eosTokenId;
  return { ids, eosTokenIds: eos === null ? model.eosTokenIds : [...new Set([...model.eosTokenIds, eos])] };
}

/**
 * The plain template's prompt for the conversation's last user message: the training sequence
 * of the conversation with an empty reply appended, less that reply's EOS. (The reply's tokens
 * follow the prompt's in training, so what precedes them is the prompt generation must give;
 * for one user message this is formatPrompt's result, which `generate --input` uses.)
 */
function plainTemplatePrompt(messages: ChatMessage[], tokenizer: TextTokenizer): number[] {
  const start = messages[0].role === 'system' ? 1 : 0;
  messages.forEach((m, k) => {
    const want = (k - start) % 2 === 0 ? 'user' : 'assistant';
    if (k >= start && m.role !== want) {
      throw invalidField(
        `messages.[${k}].role`,
        `'messages.[${k}].role' is '${m.role}' where the conversation needs '${want}': this model has no chat template, and its plain ` +
          'template takes an optional system message first, then user and assistant messages alternating, ending with the user',
      );
    }
  });
  if (messages.length === start) throw invalidField('messages', "'messages' holds only a system message; add the user's message");
  if (messages[messages.length - 1].role !== 'user') {
    throw invalidField(`messages.[${messages.length - 1}].role`, `the last message is from the assistant; the conversation must end with the user's message to be answered`);
  }
  if (tokenizer.eosTokenId === null) {
    throw new ApiError(400, "this model's tokenizer has no EOS token and no chat template, so it has no form in which to answer a conversation; use /v1/completions", 'messages');
  }
  const [sequence] = formatConversation([...messages, { role: 'assistant', content: '' }], tokenizer).sequences;
  const ids = sequence.ids;
  if (ids[ids.length - 1] !== tokenizer.eosTokenId) throw new Error('the plain template did not end the empty reply with EOS'); // (format.ts always does)
  return ids.slice(0, -1);
}

function checkLength(ids: number[], model: LanguageModel, param: string): void {
  if (ids.length === 0) {
    throw invalidField(param, `the ${param === 'prompt' ? 'prompt' : 'conversation'} has no tokens (this tokenizer adds no BOS, so give some text)`);
  }
  const maxPos = model.spec.maxPositions;
  if (ids.length > maxPos) {
    throw new ApiError(
      400,
      `the ${param === 'prompt' ? 'prompt' : 'conversation'} has ${ids.length} tokens, more than the model's ${maxPos} positions`,
      param,
      'context_length_exceeded',
    );
  }
}
