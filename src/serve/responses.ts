// The response objects of OpenAI's API, as the openai clients parse them.
//
// Not streamed: a `chat.completion` (choices[0].message) or a `text_completion`
// (choices[0].text), each with `usage` (prompt, completion and total token counts).
// Streamed (server-sent events, see sse.ts): `chat.completion.chunk`s (the first carries
// delta.role = 'assistant', then one per piece of content, then an empty delta with the
// finish_reason), or `text_completion` chunks (pieces of text, then one with the
// finish_reason); with stream_options.include_usage a last chunk with no choices and the usage.
// A non-empty reasoning block (Qwen3) is `reasoning_content`, the field vLLM and DeepSeek use:
// on the message, or streamed as one delta just before the finish chunk (it is known only once
// the block has closed).
import { randomBytes } from 'node:crypto';
import type { Completion } from './complete.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usageOf(c: Pick<Completion, 'promptTokens' | 'completionTokens'>): Usage {
  return { prompt_tokens: c.promptTokens, completion_tokens: c.completionTokens, total_tokens: c.promptTokens + c.completionTokens };
}

/** What every response and chunk of one request shares: its id, creation time (Unix seconds) and model. */
export interface ResponseHead {
  id: string;
  created: number;
  model: string;
}

export function responseHead(prefix: 'chatcmpl' | 'cmpl', model: string): ResponseHead {
  return { id: `${prefix}-${randomBytes(12).toString('hex')}`, created: Math.floor(Date.now() / 1000), model };
}

export function chatCompletion(head: ResponseHead, c: Completion) {
  return {
    ...head,
    object: 'chat.completion',
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: c.text, refusal: null, ...(c.reasoning ? { reasoning_content: c.reasoning } : {}) },
        logprobs: null,
        finish_reason: c.finishReason,
      },
    ],
    usage: usageOf(c),
  };
}

export function textCompletion(head: ResponseHead, c: Completion) {
  return {
    ...head,
    object: 'text_completion',
    system_fingerprint: null,
    choices: [{ index: 0, text: c.text, logprobs: null, finish_reason: c.finishReason, ...(c.reasoning ? { reasoning_content: c.reasoning } : {}) }],
    usage: usageOf(c),
  };
}

type Delta = { role?: 'assistant'; content?: string; reasoning_content?: string };

/** One `chat.completion.chunk`; `usage` is null on every chunk but the usage chunk when usage was asked for. */
export function chatChunk(head: ResponseHead, delta: Delta, finishReason: Completion['finishReason'] | null, includeUsage: boolean) {
  return {
    ...head,
    object: 'chat.completion.chunk',
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  };
}

/** One streamed `text_completion` chunk. */
export function textChunk(head: ResponseHead, text: string, finishReason: Completion['finishReason'] | null, includeUsage: boolean, reasoning?: string) {
  return {
    ...head,
    object: 'text_completion',
    system_fingerprint: null,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason, ...(reasoning ? { reasoning_content: reasoning } : {}) }],
    ...(includeUsage ? { usage: null } : {}),
  };
}

/** The chunk after the finish chunk when stream_options.include_usage is set: no choices, the usage. */
export function usageChunk(head: ResponseHead, object: 'chat.completion.chunk' | 'text_completion', c: Completion) {
  return { ...head, object, system_fingerprint: null, choices: [], usage: usageOf(c) };
}

/** GET /v1/models's entry for the served model. */
export function modelObject(id: string, created: number) {
  return { id, object: 'model', created, owned_by: 'webgpu-lora' };
}
