// The Ollama Modelfile written beside an exported GGUF (src/export/modelfile.ts): every file
// parses under Ollama's documented syntax (test/export/modelfile-parser.ts), and its TEMPLATE,
// run by a Go text/template evaluator (test/export/go-template.ts), writes exactly the prompt the
// model's Jinja chat template writes (rendered by the project's engine) for the same
// conversation, less the leading BOS that llama.cpp adds itself. Where a Go toolchain is
// installed, the evaluator is checked against Go's own text/template on the same templates.
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ollamaChat, ollamaModelfile, type OllamaModelfileOptions } from '../../src/export/modelfile.js';
import { compileChatTemplate, renderChatTemplate, type ChatMessage } from '../../src/tokenize/chat-template.js';
import { tokenContent } from '../../src/tokenize/special-tokens.js';
import { formatPrompt, plainPrompt } from '../../src/train/format.js';
import type { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer, readModelJson, suiteTitle } from '../tokenize/fixtures.js';
import { executeGoTemplate } from './go-template.js';
import { parseModelfile } from './modelfile-parser.js';

const sys = (content: string): ChatMessage => ({ role: 'system', content });
const user = (content: string): ChatMessage => ({ role: 'user', content });
const bot = (content: string): ChatMessage => ({ role: 'assistant', content });

/** Conversations that end with a user message, so the prompt ends with the generation prompt. */
const PROMPTS: ChatMessage[][] = [
  [user('Hello!')],
  [sys('You are a pirate.'), user('Where is the treasure?')],
  [user('What is 2+2?'), bot('4.'), user('And "3+3"?')],
  [sys('Answer in one line.\nNo lists.'), user('Name a {{ colour }}.'), bot('Blue.\n\nOr red.'), user("What's a shape?"), bot('A circle.'), user('Thanks\tfriend')],
];
/** Conversations that end with a reply being continued (Ollama's prefill). */
const PREFILLS: ChatMessage[][] = [
  [user('Tell me a story.'), bot('Once upon a time')],
  [sys('Be brief.'), user('Hi'), bot('Hello'), user('Go on'), bot('There was')],
];

/** The values Ollama passes a template that uses .Messages (template/template.go's Execute). */
const goValues = (messages: ChatMessage[]) => ({
  System: messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n'),
  Messages: messages.map((m) => ({ Role: m.role, Content: m.content })),
  Tools: null,
  Response: '',
  Think: false,
  ThinkLevel: '',
  IsThinkSet: false,
});

/** The special tokens of a fixture's tokenizer_config.json that are set, as the template reads them. */
function specialTokens(model: string): Record<string, string> {
  const config = readModelJson(model, 'tokenizer_config.json');
  const out: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const text = tokenContent(config[key]);
    if (text !== null) out[key] = text;
  }
  return out;
}

interface Family {
  model: string;
  family: string;
  /** The BOS the Jinja template writes first and the Go template leaves to llama.cpp. */
  bos: string;
  /** What closes a reply (the Jinja text after a last assistant message, without generation prompt). */
  close: string;
  stop: string[];
  /** Whether the Jinja template takes a system message after the first message. */
  laterSystem: boolean;
  trims: boolean;
}

const FAMILIES: Family[] = [
  { model: 'qwen2.5-vocab', family: 'chatml', bos: '', close: '<|im_end|>\n', stop: ['<|im_end|>', '<|im_start|>user'], laterSystem: true, trims: false },
  { model: 'qwen3-vocab', family: 'chatml', bos: '', close: '<|im_end|>\n', stop: ['<|im_end|>', '<|im_start|>user'], laterSystem: true, trims: false },
  { model: 'gemma3-vocab', family: 'gemma', bos: '<bos>', close: '<end_of_turn>\n', stop: ['<end_of_turn>', '<start_of_turn>user'], laterSystem: false, trims: true },
  { model: 'llama3-vocab', family: 'llama3', bos: '<|begin_of_text|>', close: '<|eot_id|>', stop: ['<|eot_id|>', '<|start_header_id|>user<|end_header_id|>'], laterSystem: true, trims: true },
];

describe('the Modelfile parser of this test (Ollama\'s documented syntax)', () => {
  it('reads the instructions, comments and quoting the documentation shows, in any case', () => {
    const text = [
      '# a comment',
      'from llama3.2',
      'PARAMETER temperature 1',
      '  # an indented comment',
      'PARAMETER num_ctx 4096',
      'PARAMETER stop "AI assistant:"',
      'PARAMETER stop <|eot_id|>',
      'Template """{{ if .System }}<|im_start|>system',
      '{{ .System }}<|im_end|>',
      '{{ end }}"""',
      'SYSTEM You are Mario from super mario bros, acting as an assistant.',
      'ADAPTER ./ollama-lora.gguf',
      'MESSAGE user Is Toronto in Canada?',
      'MESSAGE assistant yes',
      'LICENSE """',
      'MIT',
      '"""',
      'REQUIRES 0.14.0',
    ].join('\n');
    const m = parseModelfile(text);
    expect(m.from).toBe('llama3.2');
    expect(m.parameters).toEqual({ temperature: [1], num_ctx: [4096], stop: ['AI assistant:', '<|eot_id|>'] });
    expect(m.template).toBe('{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}');
    expect(m.system).toBe('You are Mario from super mario bros, acting as an assistant.');
    expect(m.adapter).toBe('./ollama-lora.gguf');
    expect(m.messages).toEqual([{ role: 'user', content: 'Is Toronto in Canada?' }, { role: 'assistant', content: 'yes' }]);
    expect(m.license).toBe('\nMIT\n');
    expect(m.requires).toBe('0.14.0');
  });

  it.each([
    ['no FROM', 'PARAMETER temperature 1\n', /no FROM/],
    ['an unknown instruction', 'FROM ./m.gguf\nPROMPT hello\n', /line 2: unknown instruction PROMPT/],
    ['an unknown parameter', 'FROM ./m.gguf\nPARAMETER warmth 3\n', /unknown parameter warmth/],
    ['a float for an int parameter', 'FROM ./m.gguf\nPARAMETER num_ctx 4096.5\n', /num_ctx takes an int/],
    ['a word for a float parameter', 'FROM ./m.gguf\nPARAMETER temperature hot\n', /temperature takes a float/],
    ['an unclosed """', 'FROM ./m.gguf\nTEMPLATE """{{ .Prompt }}\n', /never closed/],
    ['quotes that close before the line ends', 'FROM ./m.gguf\nSYSTEM "hi" there\n', /never closed/],
    ['a message role that is not documented', 'FROM ./m.gguf\nMESSAGE tool 42\n', /role tool/],
    ['an instruction without a value', 'FROM ./m.gguf\nSYSTEM\n', /SYSTEM has no value/],
    ['a parameter without a value', 'FROM ./m.gguf\nPARAMETER stop\n', /needs a name/],
    ['two TEMPLATEs', 'FROM ./m.gguf\nTEMPLATE a\nTEMPLATE b\n', /second TEMPLATE/],
    ['a control character', 'FROM ./m.gguf\nSYSTEM a\u0007b\n', /would drop/],
  ])('rejects %s', (_, text, error) => {
    expect(() => parseModelfile(text)).toThrow(error);
  });
});

/** Templates with the text Go's text/template writes for them (checked against Go below where it is installed). */
const EVALUATOR_CASES: { template: string; data: Record<string, unknown>; text: string }[] = [
  { template: 'a  \n {{- "b" -}} \n\t c {{ "d" }} e', data: {}, text: 'abc d e' },
  { template: 'x{{/* note */}}y {{- /* note */ -}} z', data: {}, text: 'xyz' },
  { template: '{{ "\\"q\\" \\u00e9\\t" }}', data: {}, text: '"q" é\t' },
  {
    template:
      '{{ $n := 0 }}{{ range $i, $m := .L }}{{ $last := eq (len (slice $.L $i)) 1 }}{{ if eq .R "a" }}A{{ else if and $last (ne .R "c") }}L{{ else }}-{{ end }}' +
      '{{ $n = $i }}{{ end }}/{{ $n }}/{{ (index .L 0).R }}{{ if not .E }}!{{ end }}{{ or .E "or" }}{{ if .L }}+{{ end }}',
    data: { L: [{ R: 'a' }, { R: 'b' }, { R: 'b' }], E: '' },
    text: 'A-L/2/a!or+',
  },
];

describe('the Go text/template evaluator of this test', () => {
  const run = (src: string, data: Record<string, unknown> = {}) => executeGoTemplate(src, data);
  it.each(EVALUATOR_CASES.map((c, i) => [i, c] as const))('writes what Go writes (case %i)', (_, c) => {
    expect(run(c.template, c.data)).toBe(c.text);
  });
  it('rejects what it does not know', () => {
    expect(() => run('{{ trim .X }}', { X: 'a' })).toThrow(/unknown function/);
    expect(() => run('{{ if .X }}a', { X: true })).toThrow(/not closed/);
    expect(() => run('a{{ end }}')).toThrow(/unexpected/);
    expect(() => run('{{ .Y }}', { X: 1 })).toThrow(/no field Y/);
    expect(() => run('{{ eq .X 1 }}', { X: 'a' })).toThrow(/incompatible/);
    expect(() => run('{{ $z = 1 }}')).toThrow(/undefined variable/);
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('the Modelfile for the *-vocab chat templates'), () => {
  const cache = new Map<string, Promise<TextTokenizer>>();
  const tokenizer = (model: string) => {
    if (!cache.has(model)) cache.set(model, loadTokenizer(model));
    return cache.get(model)!;
  };
  const modelfileOf = async (f: Family, extra: Partial<OllamaModelfileOptions> = {}) => {
    const tok = await tokenizer(f.model);
    const text = ollamaModelfile({ ggufFileName: 'model.gguf', chatTemplate: tok.chatTemplate, specialTokens: specialTokens(f.model), ...extra });
    return { tok, text, parsed: parseModelfile(text) };
  };

  describe.each(FAMILIES)('$model', (f) => {
    it('parses, FROM the GGUF beside it, with the end-of-turn strings as stops', async () => {
      const { text, parsed } = await modelfileOf(f);
      expect(parsed.from).toBe('./model.gguf');
      expect(parsed.adapter).toBeNull();
      expect(parsed.template).toContain('range $i, $m := .Messages');
      expect(parsed.parameters.stop).toEqual(f.stop);
      expect(text).toContain(`(${f.family} turns)`);
      expect(text.includes('llama.cpp adds it itself')).toBe(f.bos !== '');
    });

    it('writes the Jinja prompt (with the generation prompt) for each conversation', async () => {
      const { tok, parsed } = await modelfileOf(f);
      for (const messages of PROMPTS) {
        const jinja = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
        expect(f.bos + executeGoTemplate(parsed.template!, goValues(messages))).toBe(jinja);
      }
    });

    it('leaves a last assistant message open, as the Jinja text is before its close', async () => {
      const { tok, parsed } = await modelfileOf(f);
      for (const messages of PREFILLS) {
        const jinja = tok.applyChatTemplate(messages, { addGenerationPrompt: false });
        expect(f.bos + executeGoTemplate(parsed.template!, goValues(messages)) + f.close).toBe(jinja);
      }
    });

    it('writes a later system message as the Jinja template does, or leaves it out where that refuses it', async () => {
      const { tok, parsed } = await modelfileOf(f);
      const messages = [user('Hi'), bot('Hello'), sys('Now speak French.'), user('Bonjour')];
      const go = executeGoTemplate(parsed.template!, goValues(messages));
      if (f.laterSystem) expect(f.bos + go).toBe(tok.applyChatTemplate(messages, { addGenerationPrompt: true }));
      else {
        expect(() => tok.applyChatTemplate(messages, { addGenerationPrompt: true })).toThrow(/alternate/);
        expect(go).not.toContain('French');
        expect(f.bos + go).toBe(tok.applyChatTemplate([user('Hi'), bot('Hello'), user('Bonjour')], { addGenerationPrompt: true }));
      }
    });

    it('says so where the Jinja template strips whitespace around contents, which Go cannot', async () => {
      const { tok, text, parsed } = await modelfileOf(f);
      const messages = [user('  padded \n')];
      const jinja = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
      const go = f.bos + executeGoTemplate(parsed.template!, goValues(messages));
      expect(text.includes('strips spaces and line breaks')).toBe(f.trims);
      expect(go === jinja).toBe(!f.trims);
      if (f.trims) expect(go.replace('  padded \n', 'padded')).toBe(jinja);
    });
  });

  it('Qwen3: the generation prompt opens the reply without a <think> block, as its Jinja template does; a continued reply gets the empty block', async () => {
    const { parsed } = await modelfileOf(FAMILIES[1]);
    expect(executeGoTemplate(parsed.template!, goValues([user('Hi')]))).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(executeGoTemplate(parsed.template!, goValues([user('Hi'), bot('Hey')]))).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHey');
  });

  it('Gemma 3 for a GGUF whose tokenizer adds no BOS: TEMPLATE writes the <bos> itself', async () => {
    const { tok, text, parsed } = await modelfileOf(FAMILIES[2], { addsBos: false });
    expect(text).not.toContain('llama.cpp adds it itself');
    for (const messages of PROMPTS) {
      expect(executeGoTemplate(parsed.template!, goValues(messages))).toBe(tok.applyChatTemplate(messages, { addGenerationPrompt: true }));
    }
  });

  it('Qwen2.5: without a system message the template writes its default one', async () => {
    const { parsed } = await modelfileOf(FAMILIES[0]);
    expect(executeGoTemplate(parsed.template!, goValues([user('Hi')]))).toMatch(/^<\|im_start\|>system\nYou are Qwen, created by Alibaba Cloud/);
  });

  it('an adapter export: FROM the base GGUF and ADAPTER the LoRA GGUF, with SYSTEM, parameters, more stops and a license', async () => {
    const { parsed } = await modelfileOf(FAMILIES[2], {
      ggufFileName: 'gemma3-base.gguf',
      adapterFileName: 'my lora.gguf',
      system: 'You are helpful.\nKeep it "short".',
      stop: ['<eos>', '<end_of_turn>'],
      parameters: { temperature: 0.7, num_ctx: 2048, top_k: 40, top_p: 0.9, seed: 42 },
      license: 'MIT License\n\nCopyright (c) someone',
    });
    expect(parsed.from).toBe('./gemma3-base.gguf');
    expect(parsed.adapter).toBe('./my lora.gguf');
    expect(parsed.system).toBe('You are helpful.\nKeep it "short".');
    expect(parsed.parameters).toEqual({ stop: ['<end_of_turn>', '<start_of_turn>user', '<eos>'], temperature: [0.7], num_ctx: [2048], top_k: [40], top_p: [0.9], seed: [42] });
    expect(parsed.license).toBe('MIT License\n\nCopyright (c) someone');
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('the Modelfile for models without a chat template'), () => {
  it.each([
    ['stories260K', '</s>'],
    ['tiny-random-gpt2', '<|endoftext|>'],
  ])("%s: webgpu-lora's plain template as TEMPLATE, the prompts formatPrompt writes, its EOS as a stop", async (model, eos) => {
    const tok = await loadTokenizer(model);
    expect(tok.chatTemplate).toBeNull();
    const text = ollamaModelfile({ ggufFileName: `${model}.gguf`, chatTemplate: tok.chatTemplate, specialTokens: specialTokens(model) });
    const parsed = parseModelfile(text);
    expect(parsed.from).toBe(`./${model}.gguf`);
    expect(parsed.parameters.stop).toEqual([eos, '### Input:']);
    // The prompt a model tuned here is given (formatPrompt), and a conversation as training writes it.
    const go = (messages: ChatMessage[]) => executeGoTemplate(parsed.template!, goValues(messages));
    expect(go([user('Hi there')])).toBe(plainPrompt('Hi there'));
    expect(go([sys('Be brief.'), user('Hi there')])).toBe(plainPrompt('Hi there', 'Be brief.'));
    expect(go([sys('Be brief.'), user('Hi'), bot('Hello'), user('Why?')])).toBe(`${plainPrompt('Hi', 'Be brief.')}Hello${eos}\n\n${plainPrompt('Why?')}`);
    // The ids of the prompt text, with llama.cpp's BOS where the tokenizer adds one, are formatPrompt's.
    expect(tok.encode(go([user('Hi there')]))).toEqual(formatPrompt('Hi there', tok));
  });

  it('a model with neither a chat template nor an EOS token gets a raw-completion TEMPLATE', () => {
    const parsed = parseModelfile(ollamaModelfile({ ggufFileName: 'm.gguf', chatTemplate: null, specialTokens: {} }));
    expect([parsed.template, parsed.parameters.stop]).toEqual(['{{ .Prompt }}', undefined]);
    expect(executeGoTemplate(parsed.template!, { System: '', Prompt: 'Once upon a time', Response: '' })).toBe('Once upon a time');
  });
});

// Templates written for this test: one in the shape of Llama 2 chat (BOS before every [INST],
// the system text folded into the first user turn), one that numbers its turns (which no fixed
// open/close text can reproduce) and one that refuses system messages.
const LLAMA2_LIKE =
  "{%- if messages[0].role == 'system' -%}{%- set sys_text = messages[0].content -%}{%- set turns = messages[1:] -%}" +
  '{%- else -%}{%- set sys_text = none -%}{%- set turns = messages -%}{%- endif -%}' +
  '{%- for m in turns -%}' +
  "{%- if m.role == 'user' -%}{{ bos_token + '[INST] ' + ('<<SYS>>\\n' + sys_text + '\\n<</SYS>>\\n\\n' if (loop.first and sys_text) else '') + m.content + ' [/INST]' }}" +
  "{%- else -%}{{ ' ' + m.content + ' ' + eos_token }}{%- endif -%}" +
  '{%- endfor -%}';
const NUMBERED = '{% for m in messages %}{{ loop.index }}. {{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}{{ messages|length + 1 }}. assistant:{% endif %}';
const NO_SYSTEM = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system messages') }}{% endif %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";

// Turn markers with triple quotes, braces, a backslash and a zero-width space (which Ollama's
// parser would drop if it were written as it is).
const ODD_MARKERS =
  `{% for m in messages %}{{ '"""' + m.role + ' {{\\\\ \u200b\\n' + m.content + '\\n"""\\n' }}{% endfor %}` +
  `{% if add_generation_prompt %}{{ '"""assistant {{\\\\ \u200b\\n' }}{% endif %}`;

describe('the Modelfile for other chat templates', () => {
  it('writes turn markers holding """, {{, \\ and unprintable characters as Go string escapes', () => {
    const text = ollamaModelfile({ ggufFileName: 'm.gguf', chatTemplate: ODD_MARKERS, specialTokens: {} });
    const parsed = parseModelfile(text);
    expect(text).not.toContain('\u200b');
    expect(parsed.template).toContain('\\u200b');
    expect(parsed.parameters.stop).toEqual(['"""']);
    expect(text).toMatch(/^# The stop string .*user.* is left out: it holds a character Ollama's Modelfile parser drops/m);
    const jinja = compileChatTemplate(ODD_MARKERS, 'the test');
    expect(renderChatTemplate(jinja, [user('x')], true, {})).toBe('"""user {{\\ \u200b\nx\n"""\n"""assistant {{\\ \u200b\n');
    for (const messages of [...PROMPTS, ...PREFILLS]) {
      const endsWithReply = messages[messages.length - 1].role === 'assistant';
      const want = renderChatTemplate(jinja, messages, !endsWithReply, {});
      expect(executeGoTemplate(parsed.template!, goValues(messages)) + (endsWithReply ? '\n"""\n' : '')).toBe(want);
    }
  });

  const llama2Tokens = { bos_token: '<s>', eos_token: '</s>' };

  it('recognises Llama 2 turns ([INST], system folded into the first turn) and writes the same prompts', () => {
    const chat = ollamaChat(LLAMA2_LIKE, llama2Tokens);
    expect(chat.kind === 'chat' && chat.format.family).toBe('llama2');
    const parsed = parseModelfile(ollamaModelfile({ ggufFileName: 'm.gguf', chatTemplate: LLAMA2_LIKE, specialTokens: llama2Tokens }));
    expect(parsed.parameters.stop).toEqual(['</s>', '<s>[INST]']);
    const jinja = compileChatTemplate(LLAMA2_LIKE, 'the test');
    for (const messages of [...PROMPTS, ...PREFILLS]) {
      const endsWithReply = messages[messages.length - 1].role === 'assistant';
      const want = renderChatTemplate(jinja, messages, !endsWithReply, llama2Tokens);
      expect('<s>' + executeGoTemplate(parsed.template!, goValues(messages)) + (endsWithReply ? ' </s>' : '')).toBe(want);
    }
  });

  it.each([
    ['numbers its turns', NUMBERED, /for a conversation of system, user the template writes .*, the structure found/],
    ['refuses system messages', NO_SYSTEM, /no system messages/],
  ])('a template that %s gets no TEMPLATE, with a comment that says why', (_, template, reason) => {
    const chat = ollamaChat(template, {});
    expect(chat.kind).toBe('unrecognised');
    const text = ollamaModelfile({ ggufFileName: 'm.gguf', chatTemplate: template, specialTokens: { eos_token: '</s>' } });
    const parsed = parseModelfile(text);
    expect(parsed.template).toBeNull();
    expect(parsed.parameters.stop).toEqual(['</s>']);
    expect(text).toMatch(/^# No TEMPLATE: the chat template's turns were not recognised/m);
    expect(text).toMatch(reason);
  });

  it('a template that does not parse is an error naming it', () => {
    expect(() => ollamaModelfile({ ggufFileName: 'm.gguf', chatTemplate: '{% for m in messages %}', specialTokens: {} })).toThrow(/chat template of the model being exported does not parse/);
  });
});

describe('the Modelfile options', () => {
  const base: OllamaModelfileOptions = { ggufFileName: 'm.gguf', chatTemplate: null, specialTokens: { eos_token: '</s>' } };
  const build = (extra: Partial<OllamaModelfileOptions>) => ollamaModelfile({ ...base, ...extra });

  it('quotes values so that they read back unchanged', () => {
    for (const system of ['one line', 'two\nlines', 'has """ inside', '""starts with two quotes', '"quoted"', '  spaces around  ', 'ends with a quote"']) {
      expect(parseModelfile(build({ system })).system).toBe(system);
    }
    expect(parseModelfile(build({ stop: ['\n\nUser:', '"'] })).parameters.stop).toEqual(['</s>', '### Input:', '\n\nUser:', '"']);
  });

  it.each([
    ['a line of the system message that ends in """', { system: 'a """\nb' }, /system has a line ending in """/],
    ['an unprintable character', { system: 'a\u0000b' }, /system holds a character/],
    ['an empty stop string', { stop: [''] }, /stop\[0\] must be a non-empty string/],
    ['an undocumented parameter', { parameters: { mirostat: 1 } as never }, /parameters.mirostat is not a parameter Ollama documents/],
    ['a fractional int parameter', { parameters: { num_ctx: 1.5 } }, /parameters.num_ctx must be an integer/],
    ['a parameter that is not a number', { parameters: { temperature: '0.7' as never } }, /parameters.temperature must be a finite number/],
    ['a path for the GGUF', { ggufFileName: 'models/m.gguf' }, /ggufFileName must be a file name beside the Modelfile/],
    ['a file that is not a GGUF', { ggufFileName: 'm.safetensors' }, /ggufFileName must name a .gguf file/],
    ['no GGUF', { ggufFileName: '' }, /ggufFileName is missing/],
    ['the adapter being the model', { adapterFileName: 'm.gguf' }, /adapterFileName is the same file/],
  ])('rejects %s', (_, extra, error) => {
    expect(() => build(extra as Partial<OllamaModelfileOptions>)).toThrow(error);
  });
});

/** Go, where installed: GOCACHE under the OS temp dir so the run writes nothing into the tree. */
const GO = (() => {
  try {
    return execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
})();

describe.skipIf(!GO || !SHARED_DIR)(GO ? suiteTitle("this test's evaluator against Go's own text/template") : "this test's evaluator against Go's own text/template (skipped: no Go toolchain on PATH)", () => {
  it('renders every generated template on every conversation as Go does', async () => {
    const cases: { template: string; data: Record<string, unknown> }[] = [];
    const templates = [ollamaChat(LLAMA2_LIKE, { bos_token: '<s>', eos_token: '</s>' }), ollamaChat(ODD_MARKERS, {})];
    for (const f of FAMILIES) templates.push(ollamaChat((await loadTokenizer(f.model)).chatTemplate, specialTokens(f.model)));
    for (const chat of templates) {
      if (chat.kind !== 'chat') throw new Error('expected a chat template');
      for (const messages of [...PROMPTS, ...PREFILLS, [user('Hi'), bot('Hello'), sys('Now speak French.'), user('Bonjour')]]) {
        cases.push({ template: chat.template, data: goValues(messages) });
      }
    }
    for (const c of EVALUATOR_CASES) cases.push({ template: c.template, data: c.data });
    const out = execFileSync('go', ['run', fileURLToPath(new URL('./go-render/main.go', import.meta.url))], {
      input: JSON.stringify(cases),
      encoding: 'utf8',
      env: { ...process.env, GOCACHE: join(tmpdir(), 'webgpu-lora-gocache'), GOPATH: join(tmpdir(), 'webgpu-lora-gopath'), GO111MODULE: 'off' },
      timeout: 120_000,
    });
    const results = JSON.parse(out) as { text?: string; error?: string }[];
    expect(results).toHaveLength(cases.length);
    results.forEach((r, i) => {
      expect(r.error, `Go failed on case ${i}`).toBeUndefined();
      expect(executeGoTemplate(cases[i].template, cases[i].data)).toBe(r.text);
    });
  }, 180_000);
});
