// A seeded fuzz test of the tokenizer files of a model folder (tokenizer.json, tokenizer_config.json,
// special_tokens_map.json, chat_template.jinja), loaded with TextTokenizer.load(folderSource(dir)):
// a small deterministic PRNG mutates the files of stories260K (SentencePiece-style BPE with byte
// fallback) and tiny-random-gpt2 (byte-level BPE), each with a small chat template (wrong types for
// model, vocab, merges, added_tokens, post_processor, normalizer, ...; unknown types; ids out of
// range; special tokens missing from the vocabulary; bytes flipped or cut; templates with syntax
// errors, raise_exception, runaway loops, recursion and output that explodes). Every outcome must
// be a tokenizer that encodes, decodes and renders a fixed probe consistently, or an Error whose
// message names the folder and the file (and, for valid JSON, a field): never a TypeError or
// RangeError, never a hang, never a chat template that runs unbounded.
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer, type ChatMessage } from '../../src/tokenize/tokenizer.js';
import { prng, type Rng } from '../model/fuzz-files.js';
import { modelDir, suiteTitle } from './fixtures.js';
import { SHARED_DIR } from '../helpers.js';

const CASES = 600;
const SEED = 0x70c3e;
const CASE_MS = 3000; // a load, a probe and up to four renders; a runaway template stops far sooner
const FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'] as const;
type Folder = Partial<Record<(typeof FILES)[number], string>>;

const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}[U] {{ m.content | trim }}{% elif m.role == 'assistant' %}[A] {{ m.content }}{{ eos_token }}" +
  "{% else %}[S] {{ m.content }}{% endif %}{% if not loop.last %}\n{% endif %}{% endfor %}{% if add_generation_prompt %}\n[A] {% endif %}";

/** Templates that raise or misuse values: each renders to an Error naming the template and the engine's complaint. */
const FAILING_TEMPLATES = [
  "{{ raise_exception('roles must alternate user/assistant') }}",
  '{{ messages[0].content - 1 }}',
  '{{ none + 1 }}',
  '{{ messages | tojson(indent=4) }}{{ undefined_thing.x.y() }}',
  "{{ 'a' * 10**9 }}",
  '{% for m in messages %}{{ m.content | nosuchfilter }}{% endfor %}',
];

/** Templates that would run without end, recurse without end or grow without bound, and the limit that stops each. */
const RUNAWAY_TEMPLATES: Array<[template: string, stopped: RegExp]> = [
  ['{% for i in range(10**9) %}x{% endfor %}', /range\(0, 1000000000, 1\) would make 1000000000 items/],
  ['{% for i in range(60000) %}{% for j in range(60000) %}{% endfor %}{% endfor %}', /more than \d+ evaluation steps/],
  ['{% for i in range(60000) %}{{ i }}{% endfor %}', /more than \d+ evaluation steps/],
  ['{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}', /nested more than 256 deep/],
  ['{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}', /more than \d+ evaluation steps/],
  ['{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}', /made a string of \d+ characters/],
  ['{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}', /made a list of \d+ items/],
  ["{% set s = 'xxxxxxxxxx' %}{% set s = s.replace('', s) %}{% set s = s.replace('', s) %}{% set s = s.replace('', s) %}{% set s = s.replace('', s) %}{{ s }}", /the replace call would make a string of 214358880/],
  ["{% set s = 'xxxxxxxxxx' %}{% for i in range(4) %}{% set s = s | replace('', s) %}{% endfor %}{{ s }}", /replace call would make|made a string/],
  ["{{ 'a\na\na\na' | indent(10**8) }}", /the indent filter would make a string of 400000007/],
  ['{{ messages | tojson(indent=10**8) }}', /the tojson filter would make a string/],
  ["{% set ns = namespace(l=[], s='x' ~ messages[0].content) %}{% for i in range(16) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% for i in range(400) %}{% set ns.l = ns.l + [ns.s] %}{% endfor %}{{ ns.l | join(',') }}", /the join filter would make/],
  ["{% set ns = namespace(l=[], s='x' ~ messages[0].content) %}{% for i in range(16) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% for i in range(400) %}{% set ns.l = ns.l + [ns.s] %}{% endfor %}{{ ns.l }}", /writes out a list of more than/],
];

function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 7)) {
    case 0: return r.pick([0, -1, 1, 2, 3, 511, 512, 999, 1000, 1.5, 2 ** 20, 2 ** 31, 2 ** 40, 1e308, -0]);
    case 1: return r.pick(['', 'BPE', 'Unigram', 'WordPiece', 'Sequence', 'ByteLevel', 'Replace', 'TemplateProcessing', 'Metaspace', '<s>', '</s>', '<unk>', '<|endoftext|>', 'a b', 'x'.repeat(r.int(200)), '__proto__']);
    case 2: return r.next() < 0.5;
    case 3: return null;
    case 4: return r.pick([[], {}, [1, 2], ['a', 'b'], { type: 'Sequence' }]);
    case 5: return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['type', 'id', 'content', 'vocab', 'merges', 'pattern', 'normalizers', 'pretokenizers', 'decoders', 'single', 'pair', 'special_tokens', 'ids', 'tokens', 'String', 'Regex']), randomJson(r, depth + 1)]));
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The objects and arrays of `v` (not inside the vocabulary or the merges), with their paths, to pick an edit target from. */
function containers(v: unknown, path: string[] = [], out: Array<{ path: string[]; value: Json | unknown[] }> = []) {
  if (typeof v !== 'object' || v === null) return out;
  out.push({ path, value: v as Json });
  if (path.at(-1) === 'vocab' || path.at(-1) === 'merges') return out;
  for (const [k, x] of Object.entries(v)) containers(x, [...path, k], out);
  return out;
}

/** One edit of a parsed tokenizer.json. */
function mutateTokenizerJson(r: Rng, json: Json): unknown {
  const model = json.model as Json;
  const vocab = isObject(model?.vocab) ? model.vocab : null;
  const merges = Array.isArray(model?.merges) ? model.merges : null;
  switch (r.int(10)) {
    case 0:
      // A vocabulary id out of range, duplicated or of the wrong type; a token renamed or removed.
      if (vocab) {
        const keys = Object.keys(vocab);
        const key = r.next() < 0.3 ? r.pick(['<s>', '</s>', '<unk>', '<|endoftext|>', '<0x0A>', 'Ġ', '▁']) : r.pick(keys);
        const k = r.int(4);
        if (k === 0) delete vocab[key];
        else if (k === 1) vocab[key] = r.pick([-1, 1.5, 2 ** 20, 2 ** 24, 2 ** 31, 1e9, 2 ** 53, '3', null, keys.length, keys.length - 1, 0]);
        else if (k === 2) vocab[r.pick(['new token', '', '<s>x'])] = r.pick([keys.length, 0, 1e9, -5]);
        else vocab[`${key}${key}`] = vocab[key];
      }
      return json;
    case 1:
      // A merge malformed, naming tokens the vocabulary lacks, repeated, or in the other format.
      if (merges && merges.length) {
        const i = r.int(merges.length);
        const k = r.int(4);
        if (k === 0) merges[i] = r.pick(['abc', '', 'a b c', ' ', 'zz qq', ['a'], ['a', 'b', 'c'], [1, 2], null, 7]);
        else if (k === 1) merges.push(merges[r.int(merges.length)]);
        else if (k === 2) model.merges = merges.map((m) => (typeof m === 'string' ? m.split(' ') : Array.isArray(m) ? m.join(' ') : m));
        else merges.splice(r.int(merges.length), 1 + r.int(20));
      }
      return json;
    case 2: {
      // An added token with its id out of range or taken, its content missing or not in the vocabulary.
      const added = json.added_tokens;
      if (Array.isArray(added) && added.length) {
        const t = added[r.int(added.length)] as Json;
        const field = r.pick(['id', 'id', 'content', 'special', 'normalized', 'lstrip', 'rstrip']);
        if (r.next() < 0.2) delete t[field];
        else t[field] = field === 'id' ? r.pick([-1, 0, 1, 1.5, 511, 512, 999, 1000, 2 ** 20, 2 ** 31, 1e9, '1', null]) : randomJson(r);
      } else json.added_tokens = randomJson(r);
      return json;
    }
    case 3: json[r.pick(['model', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder'])] = randomJson(r); return json;
    case 4: delete json[r.pick(['model', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'version'])]; return json;
    case 5:
      // model's own fields.
      if (!isObject(model)) return json;
      model[r.pick(['type', 'vocab', 'merges', 'unk_token', 'byte_fallback', 'fuse_unk', 'end_of_word_suffix', 'continuing_subword_prefix', 'dropout', 'ignore_merges'])] = randomJson(r);
      return json;
    default: {
      if (r.next() < 0.02) return randomJson(r); // the whole file another JSON value
      // Any object or list inside (not the vocabulary and merges themselves): a field set, deleted or given an unknown type.
      const { value } = r.pick(containers(json).filter((c) => c.path.length > 0));
      if (Array.isArray(value)) {
        if (value.length && r.next() < 0.5) value[r.int(value.length)] = randomJson(r);
        else value.push(randomJson(r));
      } else {
        const keys = Object.keys(value);
        const key = keys.length && r.next() < 0.8 ? r.pick(keys) : r.pick(['type', 'id', 'ids', 'content', 'pattern']);
        const k = r.int(4);
        if (k === 0) delete value[key];
        else if (k === 1 && key === 'type') value[key] = r.pick(['Nonsense', 'Sequence', 'BPE', 'Replace', 'ByteLevel', 'Metaspace', 'Split', 'Strip', 'Precompiled', 'TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'WordPiece', 'CTC']);
        else value[key] = randomJson(r);
      }
      return json;
    }
  }
}

/** One edit of a parsed tokenizer_config.json or special_tokens_map.json. */
function mutateConfig(r: Rng, config: Json): unknown {
  const key = r.pick(['bos_token', 'eos_token', 'pad_token', 'unk_token', 'add_bos_token', 'add_eos_token', 'clean_up_tokenization_spaces', 'chat_template', 'additional_special_tokens', 'added_tokens_decoder', 'model_max_length']);
  switch (r.int(6)) {
    case 0: delete config[key]; return config;
    case 1: config[key] = r.pick(['<s>', '</s>', '<unk>', '<|endoftext|>', '<pad>', '', 'not a token', { content: '</s>' }, { content: 7 }, { id: 1 }, ['<s>'], 1, true, null]); return config;
    case 2: config.chat_template = r.pick([CHAT_TEMPLATE, [{ name: 'default', template: CHAT_TEMPLATE }], [{ name: 'tool_use', template: 'x' }], [{ name: 'default' }], [null], 5, {}, r.pick(FAILING_TEMPLATES)]); return config;
    case 3: if (r.next() < 0.1) return randomJson(r); config[key] = randomJson(r); return config;
    default: config[key] = randomJson(r); return config;
  }
}

/**
 * A chat template with a few characters cut or replaced by Jinja syntax, or a failing or runaway
 * one (rarely: each runaway runs to its limit, a tenth of a second or so; the second test meets them all).
 */
function mutateTemplate(r: Rng, template: string): string {
  if (r.next() < 0.1) return r.pick(FAILING_TEMPLATES);
  if (r.next() < 0.04) return r.pick(RUNAWAY_TEMPLATES)[0];
  let t = template;
  for (let k = 1 + r.int(3); k > 0; k--) {
    const at = r.int(t.length + 1);
    const cut = r.int(6);
    t = t.slice(0, at) + r.pick(['', '', '{%', '%}', '{{', '}}', '{% endfor %}', '{% if %}', ')', '(', '|', "'", '"', '.', 'loop.', ' in ', '[', '{#']) + t.slice(at + cut);
  }
  return t;
}

/** The bytes of a file: mostly the JSON, sometimes cut or with bytes flipped. */
function fileText(r: Rng, value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  const k = r.int(14);
  if (k === 0) return text.slice(0, r.int(text.length));
  if (k === 1) {
    const chars = [...text];
    for (let j = 1 + r.int(3); j > 0; j--) chars[r.int(chars.length)] = r.pick(['"', '{', '}', '[', ']', ',', ':', '0', '\\', ' ', 'x']);
    return chars.join('');
  }
  return text;
}

const PROBE_TEXTS = ['Once upon a time, 42 cats.', '', '  two  spaces\nand a line\t', 'héllo wörld 🐶 ✨ 日本', '<s> and </s> and <|endoftext|>', '\u0000\u00ff\ud800'];
const PROBE_MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: ' Hi there ' },
  { role: 'assistant', content: 'Hello!' },
];

/** Throws unless the tokenizer encodes, decodes and renders the probe consistently; counts the renders and their errors. */
function expectConsistent(tok: TextTokenizer, dir: string, renders: Map<string, number>): void {
  expect(Number.isSafeInteger(tok.vocabSize) && tok.vocabSize >= 0 && tok.vocabSize <= 2 ** 24, `vocabSize ${tok.vocabSize}`).toBe(true);
  for (const id of [tok.bosTokenId, tok.eosTokenId, tok.padTokenId]) if (id !== null) expect(Number.isSafeInteger(id) && id >= 0 && id < tok.vocabSize, `special id ${id}`).toBe(true);
  const lead = tok.leadingSpecialIds();
  for (const text of PROBE_TEXTS) {
    const ids = tok.encode(text);
    const bare = tok.encode(text, { addSpecialTokens: false });
    for (const id of [...ids, ...bare]) expect(Number.isSafeInteger(id) && id >= 0 && id < tok.vocabSize, `id ${id} of ${JSON.stringify(text)} (vocabulary ${tok.vocabSize})`).toBe(true);
    expect(tok.encode(text)).toEqual(ids);
    if (lead !== null) expect(ids.slice(0, lead.length + bare.length)).toEqual([...lead, ...bare]);
    expect(typeof tok.decode(ids)).toBe('string');
    expect(typeof tok.decode(ids, { skipSpecialTokens: false })).toBe('string');
    for (const id of ids.slice(0, 4)) expect(typeof tok.idToToken(id)).toBe('string');
  }
  if (tok.chatTemplate !== null) {
    for (const gen of [false, true]) {
      let text: string | null = null;
      try {
        text = tok.applyChatTemplate(PROBE_MESSAGES, { addGenerationPrompt: gen });
      } catch (e) {
        if (!(e instanceof Error) || e.name !== 'Error' || !e.message.includes(`chat template of ${dir}`)) {
          throw new Error(`rendering threw ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : String(e)}`);
        }
        expect(e.message.length).toBeLessThan(2000);
        const key = e.message.replace(dir, '<dir>').replace(/\d+/g, 'N').slice(0, 110);
        renders.set(key, (renders.get(key) ?? 0) + 1);
      }
      if (text !== null) {
        renders.set('rendered', (renders.get('rendered') ?? 0) + 1);
        expect(text.length).toBeLessThan(2 ** 22);
        expect(tok.applyChatTemplate(PROBE_MESSAGES, { addGenerationPrompt: gen })).toBe(text);
      }
    }
    void tok.reasoningFormat; // never throws
  }
}

/** Field names an error about these files may name. */
const FIELD_NAMES = [
  'model', 'vocab', 'merges', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'type', 'unk_token', 'id', 'content',
  'bos_token', 'eos_token', 'pad_token', 'add_bos_token', 'add_eos_token', 'clean_up_tokenization_spaces', 'chat_template', 'additional_special_tokens',
  'special_tokens', 'single', 'pair', 'not a JSON object', 'not valid JSON', 'chat template',
];

describe.skipIf(!SHARED_DIR)(suiteTitle('fuzzing the tokenizer files'), () => {
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-fuzz-tokenizer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const read = (model: string, file: string) => readFileSync(join(modelDir(model), file), 'utf8');
  const bases = (): Array<{ name: string; files: Folder }> => [
    { name: 'stories260K', files: { 'tokenizer.json': read('stories260K', 'tokenizer.json'), 'tokenizer_config.json': JSON.stringify({ ...JSON.parse(read('stories260K', 'tokenizer_config.json')), chat_template: CHAT_TEMPLATE }), 'special_tokens_map.json': read('stories260K', 'special_tokens_map.json') } },
    { name: 'tiny-random-gpt2', files: { 'tokenizer.json': read('tiny-random-gpt2', 'tokenizer.json'), 'tokenizer_config.json': read('tiny-random-gpt2', 'tokenizer_config.json'), 'chat_template.jinja': CHAT_TEMPLATE } },
  ];

  it(`fuzzes ${CASES} mutated tokenizer folders (seed ${SEED.toString(16)}): each a consistent tokenizer or an Error naming the file and the field`, async () => {
    const r = prng(SEED);
    const base = bases();
    const problems: string[] = [];
    const outcomes = { loaded: 0, loadError: 0 };
    const errors = new Map<string, number>();
    const renders = new Map<string, number>();
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const b = base[i % base.length];
      const files: Folder = { ...b.files };
      const target = r.pick(['tokenizer.json', 'tokenizer.json', 'tokenizer.json', 'tokenizer_config.json', 'tokenizer_config.json', 'special_tokens_map.json', 'template'] as const);
      let mutated: unknown = null;
      if (target === 'template') {
        const key = files['chat_template.jinja'] !== undefined ? 'chat_template.jinja' : null;
        if (key) files[key] = mutateTemplate(r, files[key]!);
        else {
          const config = JSON.parse(files['tokenizer_config.json']!) as Json;
          config.chat_template = mutateTemplate(r, config.chat_template as string);
          files['tokenizer_config.json'] = JSON.stringify(config);
        }
      } else if (files[target] === undefined) {
        files[target] = fileText(r, mutateConfig(r, {}));
      } else {
        const parsed = JSON.parse(files[target]!) as Json;
        mutated = target === 'tokenizer.json' ? mutateTokenizerJson(r, parsed) : mutateConfig(r, parsed);
        if (r.next() < 0.3 && isObject(mutated)) mutated = target === 'tokenizer.json' ? mutateTokenizerJson(r, mutated) : mutateConfig(r, mutated);
        files[target] = fileText(r, mutated);
      }
      for (const f of FILES) {
        const path = join(dir, f);
        if (files[f] !== undefined) writeFileSync(path, files[f]!);
        else if (existsSync(path)) unlinkSync(path);
      }
      const t0 = performance.now();
      let tok: TextTokenizer | null = null;
      try {
        tok = await TextTokenizer.load(folderSource(dir));
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        const namesFile = msg.includes(dir) && FILES.some((f) => msg.includes(f.replace('.jinja', '')));
        const namesField = FIELD_NAMES.some((f) => msg.includes(f));
        if (!(e instanceof Error) || e.name !== 'Error' || !namesFile || !namesField || msg.length > 2000) {
          problems.push(`case ${i} (${b.name}, ${target}): ${e instanceof Error ? e.name : typeof e}: ${msg.slice(0, 400)}`);
        } else outcomes.loadError++;
        const key = msg.replace(dir, '<dir>').replace(/\d+/g, 'N').slice(0, 90);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
      if (tok) {
        outcomes.loaded++;
        try {
          expectConsistent(tok, dir, renders);
        } catch (e) {
          problems.push(`case ${i} (${b.name}, ${target}): the loaded tokenizer fails the probe: ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 400)}` : String(e)}`);
        }
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (ms > CASE_MS) problems.push(`case ${i} (${b.name}, ${target}) took ${ms.toFixed(0)} ms`);
    }
    const renderErrors = [...renders].filter(([k]) => k !== 'rendered').reduce((n, [, c]) => n + c, 0);
    console.log(
      `fuzz-tokenizer: ${CASES} folders; ${outcomes.loaded} loaded, ${outcomes.loadError} refused (${errors.size} distinct messages); ` +
        `${renders.get('rendered') ?? 0} renders, ${renderErrors} render errors; slowest case ${slowest.toFixed(1)} ms`,
    );
    expect(problems.slice(0, 20)).toEqual([]);
    expect(outcomes.loaded).toBeGreaterThan(CASES / 5);
    expect(outcomes.loadError).toBeGreaterThan(CASES / 5);
    expect(renderErrors).toBeGreaterThan(20);
  }, 120_000);

  it('stops each runaway chat template quickly with an Error naming the folder and the limit, and reports failing ones', async () => {
    const config = JSON.parse(read('stories260K', 'tokenizer_config.json')) as Json;
    const load = async (template: string) => {
      writeFileSync(join(dir, 'tokenizer.json'), read('stories260K', 'tokenizer.json'));
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: template }));
      for (const f of ['special_tokens_map.json', 'chat_template.jinja']) if (existsSync(join(dir, f))) unlinkSync(join(dir, f));
      return TextTokenizer.load(folderSource(dir));
    };
    for (const [template, stopped] of RUNAWAY_TEMPLATES) {
      const tok = await load(template);
      const t0 = performance.now();
      expect(() => tok.applyChatTemplate(PROBE_MESSAGES), template).toThrow(`the chat template of ${dir} was stopped: `);
      expect(() => tok.applyChatTemplate(PROBE_MESSAGES), template).toThrow(stopped);
      expect(performance.now() - t0, template).toBeLessThan(CASE_MS);
      expect(tok.reasoningFormat).toBeNull();
    }
    for (const template of FAILING_TEMPLATES) {
      const tok = await load(template);
      expect(() => tok.applyChatTemplate(PROBE_MESSAGES), template).toThrow(new RegExp(`^the chat template of ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (raised an error|cannot render this conversation): .+`));
    }
  });
});
