// The bodies of POST /v1/chat/completions and POST /v1/completions → checked, typed requests.
//
// Every field OpenAI defines for these endpoints is read. Those this server implements are
// checked and used: temperature, top_p, max_tokens (max_completion_tokens), seed, stop, stream,
// stream_options.include_usage, plus top_k (an extension that vLLM and llama.cpp accept too;
// `generate --top-k`). Those it does not implement are accepted only at the value that means
// "off" (n 1, penalties 0, logprobs off, no tools, text output), and a few that change nothing
// about a local answer (user, metadata, store, service_tier, prompt caching, verbosity,
// reasoning_effort, parallel_tool_calls) are accepted and ignored. Anything else is a 400 that
// names it, as OpenAI answers an unknown argument.
//
// Defaults are OpenAI's: temperature 1 and top_p 1; without a seed each request draws a random
// one (OpenAI samples without a fixed seed too). max_tokens defaults to `generate
// --max-new-tokens`'s 128. The values map one to one onto generate's options (temperature →
// --temperature, top_p → --top-p, top_k → --top-k, seed → --seed, max_tokens →
// --max-new-tokens), so a request and a `generate` run with the same settings sample the same.
import { randomInt } from 'node:crypto';
import type { ChatMessage } from '../tokenize/tokenizer.js';
import { invalidField } from './errors.js';
import {
  kind,
  onlyNeutral,
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalString,
  rejectUnknown,
  stopSequences,
  type Body,
} from './fields.js';
import { isJsonObject as isObject } from '../text/json-value.js';

/** `generate --max-new-tokens`'s default, the default of max_tokens here. */
export const DEFAULT_MAX_TOKENS = 128;

export interface SamplingRequest {
  /** 0 = greedy; OpenAI's default 1. */
  temperature: number;
  topP: number;
  /** 0 = off. */
  topK: number;
  maxTokens: number;
  /** The SeededRandom seed of the sampler (an integer ≥ 0). */
  seed: number;
  /** Text that ends the answer where it first appears (not included). */
  stop: string[];
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the token counts. */
  includeUsage: boolean;
}

export interface ChatRequest extends SamplingRequest {
  messages: ChatMessage[];
}

export interface CompletionRequest extends SamplingRequest {
  /** The text to continue, or its token ids. */
  prompt: string | number[];
}

/** Fields read by both endpoints. */
const COMMON = [
  'model', 'temperature', 'top_p', 'top_k', 'max_tokens', 'seed', 'stop', 'stream', 'stream_options', 'n',
  'frequency_penalty', 'presence_penalty', 'logit_bias', 'logprobs', 'user', 'metadata', 'store', 'service_tier',
];
const CHAT_FIELDS = new Set([
  ...COMMON, 'messages', 'max_completion_tokens', 'top_logprobs', 'tools', 'tool_choice', 'functions', 'function_call',
  'parallel_tool_calls', 'response_format', 'modalities', 'audio', 'prediction', 'prompt_cache_key', 'prompt_cache_retention',
  'prompt_cache_options', 'verbosity', 'reasoning_effort',
]);
const COMPLETION_FIELDS = new Set([...COMMON, 'prompt', 'echo', 'suffix', 'best_of']);

export function parseChatRequest(body: Body, randomSeed = defaultRandomSeed): ChatRequest {
  rejectUnknown(body, CHAT_FIELDS);
  const isEmptyList = (v: unknown) => Array.isArray(v) && v.length === 0;
  onlyNeutral(body, 'top_logprobs', (v) => v === 0, 'no log probabilities');
  onlyNeutral(body, 'tools', isEmptyList, 'no tool calling');
  onlyNeutral(body, 'functions', isEmptyList, 'no function calling');
  onlyNeutral(body, 'tool_choice', (v) => v === 'none' || v === 'auto', 'no tool calling');
  onlyNeutral(body, 'function_call', (v) => v === 'none' || v === 'auto', 'no function calling');
  onlyNeutral(body, 'response_format', (v) => isObject(v) && v.type === 'text' && Object.keys(v).length === 1, 'text output only: {"type": "text"}');
  onlyNeutral(body, 'modalities', (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text', 'text output only');
  onlyNeutral(body, 'audio', () => false, 'text output only');
  onlyNeutral(body, 'prediction', () => false, 'no predicted outputs');
  const messages = parseMessages(body.messages);
  const max = optionalInteger(body, 'max_completion_tokens', 1);
  return { ...samplingFields(body, randomSeed, max), messages };
}

export function parseCompletionRequest(body: Body, randomSeed = defaultRandomSeed): CompletionRequest {
  rejectUnknown(body, COMPLETION_FIELDS);
  onlyNeutral(body, 'echo', (v) => v === false, 'the prompt is never repeated in the answer');
  onlyNeutral(body, 'suffix', (v) => v === '', 'no text after the insertion point');
  onlyNeutral(body, 'best_of', (v) => v === 1, 'one completion per request');
  const prompt = parsePrompt(body.prompt);
  return { ...samplingFields(body, randomSeed, undefined), prompt };
}

/** The fields both endpoints share; `maxCompletionTokens` (chat's newer name) wins over max_tokens. */
function samplingFields(body: Body, randomSeed: () => number, maxCompletionTokens: number | undefined): SamplingRequest {
  optionalString(body, 'model'); // any name is accepted: the server serves one model
  onlyNeutral(body, 'n', (v) => v === 1, 'one choice per request; send several requests for several answers');
  onlyNeutral(body, 'frequency_penalty', (v) => v === 0, 'no repetition penalties');
  onlyNeutral(body, 'presence_penalty', (v) => v === 0, 'no repetition penalties');
  onlyNeutral(body, 'logit_bias', (v) => isObject(v) && Object.keys(v).length === 0, 'no logit bias');
  onlyNeutral(body, 'logprobs', (v) => v === false || v === 0, 'no log probabilities');
  const temperature = optionalNumber(body, 'temperature', 0, 2) ?? 1;
  const topP = optionalNumber(body, 'top_p', 0, 1, true) ?? 1;
  const topK = optionalInteger(body, 'top_k', 0) ?? 0;
  const maxTokens = maxCompletionTokens ?? optionalInteger(body, 'max_tokens', 1) ?? DEFAULT_MAX_TOKENS;
  const seed = optionalInteger(body, 'seed', 0) ?? randomSeed();
  const stop = stopSequences(body);
  const stream = optionalBoolean(body, 'stream') ?? false;
  let includeUsage = false;
  const options = body.stream_options;
  if (options !== undefined && options !== null) {
    if (!stream) throw invalidField('stream_options', "'stream_options' is only allowed when 'stream' is true");
    if (!isObject(options)) throw invalidField('stream_options', `'stream_options' must be an object, not ${kind(options)}`, 'invalid_type');
    includeUsage = optionalBoolean(options, 'include_usage') ?? false;
  }
  return { temperature, topP, topK, maxTokens, seed, stop, stream, includeUsage };
}

/** A seed for a request that names none: uniform over SeededRandom's 2³² states. */
function defaultRandomSeed(): number {
  return randomInt(0, 2 ** 32);
}

const ROLES = "'system', 'developer', 'user' and 'assistant'";

/**
 * 'messages': a non-empty list of { role, content, name? }. 'developer' is OpenAI's newer name
 * for 'system'. Content is a string or a list of text parts ({ type: 'text', text }), joined
 * with newlines; tool and function messages, and images or audio, are not supported.
 */
function parseMessages(v: unknown): ChatMessage[] {
  if (v === undefined || v === null) throw invalidField('messages', "'messages' is required: a list of { role, content } objects", 'missing_required_parameter');
  if (!Array.isArray(v)) throw invalidField('messages', `'messages' must be a list of { role, content } objects, not ${kind(v)}`, 'invalid_type');
  if (v.length === 0) throw invalidField('messages', "'messages' is empty; it needs at least one message");
  return v.map((m, k) => {
    const at = `messages.[${k}]`;
    if (!isObject(m)) throw invalidField(at, `'${at}' must be an object { role, content }, not ${kind(m)}`, 'invalid_type');
    for (const key of Object.keys(m)) {
      if (key !== 'role' && key !== 'content' && key !== 'name') {
        throw invalidField(`${at}.${key}`, `'${at}.${key}' is not supported by this server (messages carry role, content and name)`, 'unsupported_parameter');
      }
    }
    const role = m.role;
    if (role === undefined || role === null) throw invalidField(`${at}.role`, `'${at}.role' is required`, 'missing_required_parameter');
    if (typeof role !== 'string') throw invalidField(`${at}.role`, `'${at}.role' must be a string, not ${kind(role)}`, 'invalid_type');
    if (role === 'tool' || role === 'function') {
      throw invalidField(`${at}.role`, `'${at}.role' is '${role}': tool and function messages are not supported by this server (no tool calling)`, 'unsupported_parameter');
    }
    if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant') {
      throw invalidField(`${at}.role`, `Invalid value for '${at}.role': '${role}'. Supported values are ${ROLES}.`);
    }
    if (m.name !== undefined && typeof m.name !== 'string') throw invalidField(`${at}.name`, `'${at}.name' must be a string, not ${kind(m.name)}`, 'invalid_type');
    return { role: role === 'developer' ? 'system' : role, content: messageContent(m.content, `${at}.content`) };
  });
}

function messageContent(v: unknown, at: string): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) throw invalidField(at, `'${at}' is required: the message's text`, 'missing_required_parameter');
  if (!Array.isArray(v)) throw invalidField(at, `'${at}' must be a string or a list of text parts, not ${kind(v)}`, 'invalid_type');
  return v
    .map((part, k) => {
      if (!isObject(part)) throw invalidField(`${at}.[${k}]`, `'${at}.[${k}]' must be an object { type: 'text', text }, not ${kind(part)}`, 'invalid_type');
      if (part.type !== 'text') {
        throw invalidField(`${at}.[${k}].type`, `'${at}.[${k}].type' is ${JSON.stringify(part.type)}: this server reads text parts only ({ type: 'text', text })`, 'unsupported_parameter');
      }
      if (typeof part.text !== 'string') throw invalidField(`${at}.[${k}].text`, `'${at}.[${k}].text' must be a string, not ${kind(part.text)}`, 'invalid_type');
      return part.text;
    })
    .join('\n');
}

/**
 * 'prompt': a string, or token ids (a list of integers), or a list holding exactly one of
 * either. Several prompts in one request are not supported (one completion per request).
 */
function parsePrompt(v: unknown): string | number[] {
  if (v === undefined || v === null) throw invalidField('prompt', "'prompt' is required: the text to continue", 'missing_required_parameter');
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw invalidField('prompt', `'prompt' must be a string or a list of token ids, not ${kind(v)}`, 'invalid_type');
  if (v.length === 0) throw invalidField('prompt', "'prompt' is an empty list; give a string or at least one token id");
  if (v.every((x) => typeof x === 'number')) {
    v.forEach((x, k) => {
      if (!Number.isInteger(x) || x < 0) throw invalidField(`prompt.[${k}]`, `'prompt.[${k}]' must be a token id (an integer ≥ 0), got ${x}`);
    });
    return v as number[];
  }
  if (v.length > 1) throw invalidField('prompt', `'prompt' holds ${v.length} prompts; this server answers one prompt per request`, 'unsupported_parameter');
  if (typeof v[0] === 'string') return v[0];
  if (Array.isArray(v[0]) && v[0].length > 0 && v[0].every((x) => typeof x === 'number')) return parsePrompt(v[0]);
  throw invalidField('prompt.[0]', `'prompt.[0]' must be a string or a non-empty list of token ids, not ${kind(v[0])}`, 'invalid_type');
}

