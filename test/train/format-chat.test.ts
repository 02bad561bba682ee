// Conversations → ids and labels through a chat template: stories260K's tokenizer with
// <|im_start|> and <|im_end|> added as special tokens and a ChatML template (its EOS </s> is not
// part of a turn, so one is appended after each reply), a template that writes EOS itself, one
// that writes the last reply differently (not prefix-stable: one sequence per reply), and one
// whose generation prompt is not how it begins a reply. The real templates of four model families
// are checked against ../shared/golden-format in test/tokenize/golden-format.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer, type ChatMessage } from '../../src/tokenize/tokenizer.js';
import { formatConversation, formatExample, formatPrompt, IGNORE_INDEX } from '../../src/train/format.js';
import { SHARED_DIR } from '../helpers.js';
import { modelDir, readModelJson, suiteTitle, tempFolder, type TempFolder } from '../tokenize/fixtures.js';

const CHATML =
  '{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}' +
  '{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';
const EOS_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message.role == 'user' %}[INST] {{ message.content }} [/INST]" +
  '{% else %}{{ message.content }}{{ eos_token }}{% endif %}{% endfor %}';
/** ChatML, but the last reply is marked (as Qwen3 keeps the <think> block of the last reply only). */
const LAST_MARKED =
  '{% for message in messages %}<|im_start|>{{ message.role }}\n{% if loop.last and message.role == "assistant" %}[last] {% endif %}' +
  '{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';
/** Writes the last message differently, so a conversation's beginning is not a prefix of it. */
const UNSTABLE = '{% for message in messages %}{% if loop.last %}LAST {% endif %}{{ message.content }}\n{% endfor %}';

const IM_START = 512;
const IM_END = 513;
const EOS = 2;

const conversation: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: '배송은 언제 오나요?' },
  { role: 'assistant', content: '주문 후 2~3일 안에 도착합니다.' },
  { role: 'user', content: 'Thanks' },
  { role: 'assistant', content: 'You are welcome.' },
];

/** Runs of consecutive learned positions, as [start, end) pairs. */
function learnedRuns(labels: number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  labels.forEach((l, t) => {
    if (l === IGNORE_INDEX) return;
    const last = runs[runs.length - 1];
    if (last && last[1] === t) last[1] = t + 1;
    else runs.push([t, t + 1]);
  });
  return runs;
}

describe.skipIf(!SHARED_DIR)(suiteTitle('formatExample: chat template'), () => {
  const folders: TempFolder[] = [];
  let chatml: TextTokenizer;
  afterAll(() => folders.forEach((f) => f.remove()));

  /** stories260K's tokenizer, with the ChatML tokens added, and `template` as its chat template. */
  const withTemplate = (template: string) => {
    const json = JSON.parse(readFileSync(join(modelDir('stories260K'), 'tokenizer.json'), 'utf8'));
    for (const [id, content] of [
      [IM_START, '<|im_start|>'],
      [IM_END, '<|im_end|>'],
    ] as const) {
      json.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    }
    const config = { ...readModelJson('stories260K', 'tokenizer_config.json'), chat_template: template };
    const folder = tempFolder([], { 'tokenizer.json': json, 'tokenizer_config.json': config });
    folders.push(folder);
    return TextTokenizer.load(folderSource(folder.dir));
  };
  beforeAll(async () => {
    chatml = await withTemplate(CHATML);
  });

  it('labels each reply with its <|im_end|> turn end and an appended EOS, and nothing else', () => {
    const { ids, labels } = formatExample(conversation, chatml);
    const encode = (t: string) => chatml.encode(t, { addSpecialTokens: false });
    const text = chatml.applyChatTemplate(conversation);
    // The template's tokens, with EOS after each reply's turn; no BOS (the template writes none).
    const replyEnd1 = encode(chatml.applyChatTemplate(conversation.slice(0, 3))).length;
    const fullIds = encode(text);
    expect(ids).toEqual([...fullIds.slice(0, replyEnd1), EOS, ...fullIds.slice(replyEnd1), EOS]);
    expect(ids[0]).toBe(IM_START);

    const runs = learnedRuns(labels);
    expect(runs).toHaveLength(2);
    for (const [k, [start, end]] of runs.entries()) {
      const learned = ids.slice(start, end);
      expect(labels.slice(start, end)).toEqual(learned);
      // Each run is the reply's text, then <|im_end|> and the newline after it, then EOS.
      const content = conversation[k === 0 ? 2 : 4].content;
      const turnEnd = encode('<|im_end|>\n');
      expect(turnEnd[0]).toBe(IM_END);
      expect(learned.slice(-turnEnd.length - 1)).toEqual([...turnEnd, EOS]);
      expect(chatml.decode(learned.slice(0, -turnEnd.length - 1))).toBe(content);
      // What comes right before each run is the generation prompt's header.
      const header = encode('<|im_start|>assistant\n');
      expect(ids.slice(start - header.length, start)).toEqual(header);
    }
    expect(chatml.decode(ids.slice(runs[0][0], runs[0][1]))).toContain('주문 후 2~3일 안에 도착합니다.');
  });

  it('formatPrompt is exactly the prompt part of a one-turn example', () => {
    for (const system of [undefined, 'Be brief.']) {
      const messages: ChatMessage[] = [
        ...(system ? [{ role: 'system' as const, content: system }] : []),
        { role: 'user', content: 'Where is my order?' },
        { role: 'assistant', content: 'On its way.' },
      ];
      const { ids, labels } = formatExample(messages, chatml);
      const prompt = formatPrompt('Where is my order?', chatml, system);
      expect(labels.findIndex((l) => l !== IGNORE_INDEX)).toBe(prompt.length);
      expect(ids.slice(0, prompt.length)).toEqual(prompt);
      expect(chatml.decode(prompt, { skipSpecialTokens: false })).toMatch(/<\|im_start\|> ?assistant\n$/);
    }
  });

  it('appends no second EOS when the template ends replies with EOS itself, and masks its BOS', async () => {
    const tok = await withTemplate(EOS_TEMPLATE);
    const messages = conversation.slice(1);
    const { ids, labels } = formatExample(messages, tok, { trainOnInputs: false });
    expect(ids).toEqual(tok.encode(tok.applyChatTemplate(messages), { addSpecialTokens: false }));
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === EOS)).toHaveLength(2);
    const runs = learnedRuns(labels);
    expect(runs.map(([s, e]) => tok.decode(ids.slice(s, e)))).toEqual(['주문 후 2~3일 안에 도착합니다.', 'You are welcome.']);
    expect(runs.map(([, e]) => ids[e - 1])).toEqual([EOS, EOS]);

    const all = formatExample(messages, tok, { trainOnInputs: true });
    expect(all.labels).toEqual([IGNORE_INDEX, ...ids.slice(1)]);
  });

  it('makes one sequence per reply, each in its generation context, where the template is not prefix-stable', async () => {
    const tok = await withTemplate(LAST_MARKED);
    const encode = (t: string) => tok.encode(t, { addSpecialTokens: false });
    const messages = conversation.slice(1);
    const { sequences, how } = formatConversation(messages, tok);
    expect(how).toBe('one sequence per reply (the template is not prefix-stable)');
    expect(sequences).toHaveLength(2);
    for (const [k, i] of [1, 3].entries()) {
      // The context is what formatPrompt-style generation gives (the conversation before the reply
      // and the generation prompt), then the reply's turn as the template writes it as the last one.
      const context = encode(tok.applyChatTemplate(messages.slice(0, i), { addGenerationPrompt: true }));
      // (Tokenized after the context: on its own, this tokenizer would start the turn with a '▁'.)
      const through = encode(tok.applyChatTemplate(messages.slice(0, i + 1)));
      expect(tok.decode(through.slice(context.length), { skipSpecialTokens: false })).toMatch(new RegExp(`^\\[last\\] ${messages[i].content}<\\|im_end\\|>\\s+$`));
      const turn = [...through.slice(context.length), EOS];
      const { ids, labels, trainableTokens } = sequences[k];
      expect(ids).toEqual([...context, ...turn]);
      expect(labels).toEqual([...context.map(() => IGNORE_INDEX), ...turn]);
      expect(trainableTokens).toBe(turn.length);
    }
    expect(sequences[0].ids).toEqual(formatExample(messages.slice(0, 2), tok).ids);
    expect(() => formatExample(messages, tok)).toThrow(/becomes 2 training sequences, one sequence per reply \(the template is not prefix-stable\)/);
  });

  it('reports a template that is not prefix-stable', async () => {
    const tok = await withTemplate(UNSTABLE);
    expect(() => formatExample(conversation.slice(1, 3), tok)).toThrow(/cannot find the tokens of assistant reply 1 .*not the beginning/);
  });
});
