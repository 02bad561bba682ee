// Chat templates: where they are found (tokenizer_config.json as a string or a named list,
// chat_template.jinja) and the exact text @huggingface/jinja renders for a conversation.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer, type ChatMessage } from '../../src/tokenize/tokenizer.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer, modelDir, readModelJson, suiteTitle, tempFolder, type TempFolder } from './fixtures.js';

const CHATML =
  '{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}' +
  '{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';
const BOS_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message.role == 'user' %}[INST] {{ message.content }} [/INST]" +
  '{% else %}{{ message.content }}{{ eos_token }}{% endif %}{% endfor %}';

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are a storyteller.' },
  { role: 'user', content: 'Tell me about a cat.' },
];
const CHATML_TEXT = '<|im_start|>system\nYou are a storyteller.<|im_end|>\n<|im_start|>user\nTell me about a cat.<|im_end|>\n';

describe.skipIf(!SHARED_DIR)(suiteTitle('chat templates'), () => {
  const folders: TempFolder[] = [];
  afterAll(() => folders.forEach((f) => f.remove()));
  /** stories260K's tokenizer.json with its tokenizer_config.json plus `config`, and `files`. */
  const withConfig = (config: object, files: Record<string, string> = {}) => {
    const base = readModelJson('stories260K', 'tokenizer_config.json');
    const folder = tempFolder([join(modelDir('stories260K'), 'tokenizer.json')], { 'tokenizer_config.json': { ...base, ...config }, ...files });
    folders.push(folder);
    return TextTokenizer.load(folderSource(folder.dir));
  };

  it('renders a ChatML template with and without the generation prompt', async () => {
    const tok = await withConfig({ chat_template: CHATML });
    expect(tok.chatTemplate).toBe(CHATML);
    expect(tok.applyChatTemplate(conversation)).toBe(CHATML_TEXT);
    expect(tok.applyChatTemplate(conversation, { addGenerationPrompt: false })).toBe(CHATML_TEXT);
    expect(tok.applyChatTemplate(conversation, { addGenerationPrompt: true })).toBe(CHATML_TEXT + '<|im_start|>assistant\n');
  });

  it('passes bos_token and eos_token to the template', async () => {
    const tok = await withConfig({ chat_template: BOS_TEMPLATE });
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'A story?' },
    ];
    const text = tok.applyChatTemplate(messages);
    expect(text).toBe('<s>[INST] Hi [/INST]Hello!</s>[INST] A story? [/INST]');
    // The rendered BOS is the special token itself, so encoding the text without adding
    // special tokens gives exactly one BOS.
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 1)).toHaveLength(1);
    expect(ids).toContain(2);
  });

  it("takes the 'default' entry of a list of named templates", async () => {
    const tok = await withConfig({
      chat_template: [
        { name: 'tool_use', template: 'TOOLS' },
        { name: 'default', template: CHATML },
      ],
    });
    expect(tok.chatTemplate).toBe(CHATML);
  });

  it('prefers chat_template.jinja, the newer layout', async () => {
    const tok = await withConfig({ chat_template: 'OLD' }, { 'chat_template.jinja': BOS_TEMPLATE });
    expect(tok.chatTemplate).toBe(BOS_TEMPLATE);
  });

  it('reports a raise_exception from the template', async () => {
    const tok = await withConfig({ chat_template: "{{ raise_exception('roles must alternate') }}" });
    expect(() => tok.applyChatTemplate(conversation)).toThrow('roles must alternate');
  });

  it('throws a clear error when there is no template', async () => {
    const tok = await loadTokenizer('stories260K');
    expect(() => tok.applyChatTemplate(conversation)).toThrow(/has no chat template/);
  });
});
