// Checking request bodies (src/serve/requests.ts): OpenAI's defaults, the one-to-one mapping
// onto generate's options, and a 400 naming the field for each kind of mistake.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/serve/errors.js';
import { DEFAULT_MAX_TOKENS, parseChatRequest, parseCompletionRequest } from '../../src/serve/requests.js';

const USER = [{ role: 'user', content: 'Hi' }];
const seed = () => 12345;

/** The ApiError that parsing `body` throws (fails the test when it throws none). */
function errorOf(parse: () => unknown): ApiError {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  return expect.fail('expected a 400');
}

describe('parseChatRequest', () => {
  it("applies OpenAI's defaults, generate's max tokens, and a fresh seed when none is given", () => {
    const r = parseChatRequest({ model: 'anything', messages: USER }, seed);
    expect(r).toEqual({ temperature: 1, topP: 1, topK: 0, maxTokens: DEFAULT_MAX_TOKENS, seed: 12345, stop: [], stream: false, includeUsage: false, messages: [{ role: 'user', content: 'Hi' }] });
    expect(DEFAULT_MAX_TOKENS).toBe(128);
  });

  it('maps each setting onto generate’s option, and reads text parts, developer messages, stop lists and stream options', () => {
    const r = parseChatRequest(
      {
        messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], name: 'me' }],
        temperature: 0.7, top_p: 0.9, top_k: 40, max_tokens: 9, max_completion_tokens: 12, seed: 3, stop: 'END', stream: true,
        stream_options: { include_usage: true }, n: 1, frequency_penalty: 0, presence_penalty: 0, logprobs: false, user: 'u', tools: [], tool_choice: 'none',
        response_format: { type: 'text' }, logit_bias: {}, store: false, parallel_tool_calls: true,
      },
      seed,
    );
    expect(r).toEqual({
      temperature: 0.7, topP: 0.9, topK: 40, maxTokens: 12, seed: 3, stop: ['END'], stream: true, includeUsage: true,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'a\nb' }],
    });
    expect(parseChatRequest({ messages: USER, stop: ['a', 'b'], temperature: null, seed: null }, seed)).toMatchObject({ stop: ['a', 'b'], temperature: 1, seed: 12345 });
  });

  it.each([
    [{}, 'messages', /'messages' is required/],
    [{ messages: 'hi' }, 'messages', /'messages' must be a list .* not a string/],
    [{ messages: [] }, 'messages', /'messages' is empty/],
    [{ messages: ['hi'] }, 'messages.[0]', /must be an object/],
    [{ messages: [{ role: 'bot', content: 'x' }] }, 'messages.[0].role', /Invalid value for 'messages.\[0\].role': 'bot'/],
    [{ messages: [{ role: 'tool', content: 'x', tool_call_id: 'c' }] }, 'messages.[0].tool_call_id', /not supported/],
    [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages.[0].role', /tool and function messages are not supported/],
    [{ messages: [{ content: 'x' }] }, 'messages.[0].role', /is required/],
    [{ messages: [{ role: 'user' }] }, 'messages.[0].content', /is required/],
    [{ messages: [{ role: 'user', content: 5 }] }, 'messages.[0].content', /must be a string or a list of text parts, not a number/],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 'messages.[0].content.[0].type', /text parts only/],
    [{ messages: USER, n: 2 }, 'n', /'n' is not supported .*one choice per request/],
    [{ messages: USER, temperature: 'hot' }, 'temperature', /'temperature' must be a number, not a string/],
    [{ messages: USER, temperature: 2.5 }, 'temperature', /at most 2, got 2.5/],
    [{ messages: USER, top_p: 0 }, 'top_p', /greater than 0/],
    [{ messages: USER, max_tokens: 0 }, 'max_tokens', /integer from 1/],
    [{ messages: USER, max_tokens: 1.5 }, 'max_tokens', /must be an integer/],
    [{ messages: USER, seed: -1 }, 'seed', /integer from 0/],
    [{ messages: USER, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/],
    [{ messages: USER, stop: [''] }, 'stop.[0]', /is empty/],
    [{ messages: USER, stop: [3] }, 'stop.[0]', /must be a string/],
    [{ messages: USER, stream: 'yes' }, 'stream', /must be a boolean/],
    [{ messages: USER, stream_options: { include_usage: true } }, 'stream_options', /only allowed when 'stream' is true/],
    [{ messages: USER, tools: [{ type: 'function' }] }, 'tools', /no tool calling/],
    [{ messages: USER, frequency_penalty: 0.5 }, 'frequency_penalty', /no repetition penalties/],
    [{ messages: USER, logprobs: true }, 'logprobs', /no log probabilities/],
    [{ messages: USER, response_format: { type: 'json_object' } }, 'response_format', /text output only/],
    [{ messages: USER, model: 7 }, 'model', /must be a string/],
    [{ messages: USER, temprature: 0 }, 'temprature', /Unrecognized request argument supplied: temprature/],
  ])('%j is a 400 naming %s', (body, param, message) => {
    const e = errorOf(() => parseChatRequest(body as Record<string, unknown>, seed));
    expect(e.status).toBe(400);
    expect(e.param).toBe(param);
    expect(e.message).toMatch(message);
    expect(e.toBody().error.type).toBe('invalid_request_error');
  });
});

describe('parseCompletionRequest', () => {
  it('takes a string, one string in a list, or token ids', () => {
    expect(parseCompletionRequest({ prompt: 'Once', temperature: 0 }, seed)).toMatchObject({ prompt: 'Once', temperature: 0, maxTokens: 128 });
    expect(parseCompletionRequest({ prompt: ['Once'] }, seed).prompt).toBe('Once');
    expect(parseCompletionRequest({ prompt: [1, 2, 3] }, seed).prompt).toEqual([1, 2, 3]);
    expect(parseCompletionRequest({ prompt: [[1, 2]], echo: false, best_of: 1, suffix: null }, seed).prompt).toEqual([1, 2]);
    expect(parseCompletionRequest({ prompt: '' }, seed).prompt).toBe('');
  });

  it.each([
    [{}, 'prompt', /'prompt' is required/],
    [{ prompt: ['a', 'b'] }, 'prompt', /holds 2 prompts/],
    [{ prompt: [] }, 'prompt', /empty list/],
    [{ prompt: [1, -2] }, 'prompt.[1]', /token id/],
    [{ prompt: { text: 'a' } }, 'prompt', /not an object/],
    [{ prompt: 'a', echo: true }, 'echo', /never repeated/],
    [{ prompt: 'a', messages: USER }, 'messages', /Unrecognized request argument/],
    [{ prompt: 'a', max_completion_tokens: 3 }, 'max_completion_tokens', /Unrecognized/],
  ])('%j is a 400 naming %s', (body, param, message) => {
    const e = errorOf(() => parseCompletionRequest(body as Record<string, unknown>, seed));
    expect(e.param).toBe(param);
    expect(e.message).toMatch(message);
  });
});
