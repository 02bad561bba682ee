// Prompts for the server's requests (src/serve/prompt.ts), with real tokenizers and no GPU: a
// chat without a chat template is the plain template exactly as `generate --input` (formatPrompt)
// and training write it, one turn or several; a chat template's text with the generation
// prompt; raw prompts as `generate --prompt` encodes them; 400s naming the field otherwise.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { ApiError } from '../../src/serve/errors.js';
import { chatPrompt, completionPrompt } from '../../src/serve/prompt.js';
import { TextTokenizer, type ChatMessage } from '../../src/tokenize/tokenizer.js';
import { formatExample, formatPrompt } from '../../src/train/format.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

/** What prompt.ts reads of a model: its vocabulary size, positions and EOS ids (no weights needed). */
const fakeModel = (V: number, maxPositions: number, eosTokenIds: number[]) => ({ spec: { V, maxPositions }, eosTokenIds }) as unknown as LanguageModel;

function apiError(f: () => unknown): ApiError {
  try {
    f();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  return expect.fail('expected an ApiError');
}

describe.skipIf(!SHARED_DIR)(`server prompts${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  let stories: TextTokenizer;
  let qwen: TextTokenizer;
  const storiesModel = fakeModel(512, 512, [2]);
  beforeAll(async () => {
    stories = await TextTokenizer.load(folderSource(join(SHARED_DIR!, 'models', 'stories260K')));
    qwen = await TextTokenizer.load(folderSource(join(SHARED_DIR!, 'models', 'qwen2.5-vocab')));
  });

  it('stories260K has no chat template: one user message is formatPrompt’s plain-template prompt, as generate --input gives it', () => {
    expect(stories.chatTemplate).toBeNull();
    const p = chatPrompt([{ role: 'user', content: 'Tell me a story.' }], storiesModel, stories);
    expect(p.ids).toEqual(formatPrompt('Tell me a story.', stories));
    expect(stories.decode(p.ids)).toBe('### Input:\nTell me a story.\n\n### Output:\n');
    const withSystem = chatPrompt([{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hi' }], storiesModel, stories);
    expect(withSystem.ids).toEqual(formatPrompt('Hi', stories, 'Be kind.'));
    expect(p.eosTokenIds).toEqual([2]); // the model's EOS, and the tokenizer's (the same id here)
  });

  it('several turns in the plain template: the prompt is exactly what training puts before the last reply', () => {
    const turns: ChatMessage[] = [
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello there.' },
      { role: 'user', content: 'Tell me a story.' },
    ];
    const p = chatPrompt(turns, storiesModel, stories);
    const trained = formatExample([...turns, { role: 'assistant', content: 'Once upon a time' }], stories);
    const firstLearned = trained.labels.findIndex((l, k) => k > p.ids.length - 1 && l !== -100);
    expect(trained.ids.slice(0, p.ids.length)).toEqual(p.ids);
    expect(firstLearned).toBe(p.ids.length); // the last reply's tokens start right after the prompt
    // The earlier reply ends with EOS; the later block is encoded on its own, so the Llama tokenizer
    // puts its word-start mark (a space) in front of it, in training and here alike.
    expect(stories.decode(p.ids, { skipSpecialTokens: false })).toBe(
      '<s> Be kind.\n\n### Input:\nHi\n\n### Output:\nHello there.</s> \n\n### Input:\nTell me a story.\n\n### Output:\n',
    );
  });

  it.each([
    [[{ role: 'assistant', content: 'x' }], 'messages.[0].role', /is 'assistant' where the conversation needs 'user'/],
    [[{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], 'messages.[1].role', /needs 'assistant'/],
    [[{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }], 'messages.[1].role', /is 'system'/],
    [[{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], 'messages.[1].role', /must end with the user's message/],
    [[{ role: 'system', content: 'a' }], 'messages', /only a system message/],
  ])('the plain template refuses %j with a 400 naming %s', (messages, param, message) => {
    const e = apiError(() => chatPrompt(messages as ChatMessage[], storiesModel, stories));
    expect(e.status).toBe(400);
    expect(e.param).toBe(param);
    expect(e.message).toMatch(message);
  });

  it('a chat template: its text with the generation prompt, without added special tokens; EOS from the model and the tokenizer', () => {
    const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'Bye' }];
    const p = chatPrompt(messages, fakeModel(151936, 4096, [151645, 151643]), qwen);
    expect(qwen.decode(p.ids, { skipSpecialTokens: false })).toBe(qwen.applyChatTemplate(messages, { addGenerationPrompt: true }));
    expect(qwen.decode(p.ids, { skipSpecialTokens: false }).endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(chatPrompt([messages[1]], fakeModel(151936, 4096, [151645, 151643]), qwen).ids).toEqual(formatPrompt('Hi', qwen));
    expect(p.eosTokenIds).toEqual([151645, 151643]);
    expect(chatPrompt([messages[1]], fakeModel(151936, 4096, [151643]), qwen).eosTokenIds).toEqual([151643, qwen.eosTokenId]);
  });

  it('a raw prompt is encoded as generate --prompt encodes it (BOS first), or taken as token ids; EOS is the model’s only', () => {
    const p = completionPrompt('Once upon a time', storiesModel, stories);
    expect(p.ids).toEqual(stories.encode('Once upon a time'));
    expect(p.ids[0]).toBe(1);
    expect(completionPrompt([1, 400, 511], storiesModel, stories).ids).toEqual([1, 400, 511]);
    expect(completionPrompt('x', fakeModel(512, 512, [7]), stories).eosTokenIds).toEqual([7]);
    const e = apiError(() => completionPrompt([1, 512], storiesModel, stories));
    expect(e.param).toBe('prompt.[1]');
    expect(e.message).toMatch(/token id 512, outside the model's vocabulary of 512 tokens/);
  });

  it('a prompt longer than the model’s positions is a 400 context_length_exceeded', () => {
    const long = 'word '.repeat(600);
    const e = apiError(() => completionPrompt(long, storiesModel, stories));
    expect(e.code).toBe('context_length_exceeded');
    expect(e.message).toMatch(/has \d+ tokens, more than the model's 512 positions/);
    expect(apiError(() => chatPrompt([{ role: 'user', content: long }], storiesModel, stories)).param).toBe('messages');
  });
});
