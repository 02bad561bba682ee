// TextTokenizer against the fixture models: the stories260K README's reference ids and texts
// (agreed by llama2.c, tokenizers, transformers and transformers.js), round trips through byte
// fallback, GPT-2's byte-level BPE, the BOS/EOS rules of transformers, and clear load errors.
import { afterAll, describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer as load, modelDir, readModelJson, suiteTitle, tempFolder, type TempFolder } from './fixtures.js';
import { AFTER_ONCE_IDS, AFTER_ONCE_TEXT, FROM_BOS_IDS, FROM_BOS_TEXT, ONCE_IDS } from '../stories-readme.js';

describe.skipIf(!SHARED_DIR)(suiteTitle('stories260K (Llama BPE with byte fallback)'), () => {
  it('encodes the README prompt with BOS, and without it on request', async () => {
    const tok = await load('stories260K');
    expect(tok.encode('Once upon a time')).toEqual(ONCE_IDS);
    expect(tok.encode('Once upon a time', { addSpecialTokens: false })).toEqual(ONCE_IDS.slice(1));
    expect(tok.encode('')).toEqual([1]);
  });

  it('reads the special tokens and the vocabulary size', async () => {
    const tok = await load('stories260K');
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
    expect(tok.padTokenId).toBeNull();
    expect(tok.vocabSize).toBe(512);
    expect(tok.chatTemplate).toBeNull();
    expect(tok.idToToken(13)).toBe('<0x0A>');
    expect(tok.tokenToId('<s>')).toBe(1);
  });

  it("decodes the README's 200-token continuations to the README's texts", async () => {
    const tok = await load('stories260K');
    expect(tok.decode(FROM_BOS_IDS)).toBe(FROM_BOS_TEXT);
    expect(tok.decode([1, ...FROM_BOS_IDS])).toBe(FROM_BOS_TEXT);
    expect(tok.decode(AFTER_ONCE_IDS)).toBe(AFTER_ONCE_TEXT);
    expect(tok.decode(Int32Array.from([...ONCE_IDS, ...AFTER_ONCE_IDS]))).toBe('Once upon a time' + AFTER_ONCE_TEXT);
    // The README text from BOS re-encodes to the same ids (greedy output is a canonical encoding here).
    expect(tok.encode(FROM_BOS_TEXT)).toEqual([1, ...FROM_BOS_IDS]);
  });

  it('keeps or skips special tokens in decode', async () => {
    const tok = await load('stories260K');
    expect(tok.decode([1, 403, 2])).toBe('Once');
    expect(tok.decode([1, 403, 2], { skipSpecialTokens: false })).toBe('<s> Once</s>');
    expect(tok.decode([])).toBe('');
    expect(tok.decode([1, 2])).toBe('');
  });

  const roundTrips = [
    'One day, a little dog named Max found a big red ball.',
    '"Can I play?" asked Tom. "Yes!" said Sue.',
    'She counted 1, 2, 3... up to 2024.',
    'two  spaces   and three',
    '  leading and trailing spaces  ',
    ' ',
    'line one\nline two\n\nafter a blank line\n',
    'a\ttab\tseparated',
    '안녕하세요, 세계!',
    '日本語のテキスト',
    'emoji 🐶🎈 and ✨',
  ];
  it.each(roundTrips)('round-trips %j', async (text) => {
    const tok = await load('stories260K');
    const ids = tok.encode(text);
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('tiny-random-gpt2 (byte-level BPE)'), () => {
  it('round-trips ASCII text and adds no BOS', async () => {
    const tok = await load('tiny-random-gpt2');
    const text = 'Hello world! This is a small test of the GPT-2 tokenizer, with 123 digits.';
    const ids = tok.encode(text);
    expect(ids).toEqual(tok.encode(text, { addSpecialTokens: false }));
    expect(ids.length).toBeGreaterThan(10);
    expect(ids).not.toContain(0);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.bosTokenId).toBe(0);
    expect(tok.eosTokenId).toBe(0);
    expect(tok.vocabSize).toBe(1000);
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('missing tokenizer'), () => {
  it.each(['tiny-random-qwen2', 'tiny-random-qwen3'])('%s: load names the folder and tokenizer.json', async (name) => {
    const err = await load(name).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain(modelDir(name));
    expect(err!.message).toContain('tokenizer.json');
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('BOS/EOS rules of transformers 5'), () => {
  const folders: TempFolder[] = [];
  afterAll(() => folders.forEach((f) => f.remove()));
  const storiesJson = () => readModelJson('stories260K', 'tokenizer.json');
  const storiesConfig = () => readModelJson('stories260K', 'tokenizer_config.json');
  const withFiles = (files: Record<string, object>) => {
    const folder = tempFolder([], files);
    folders.push(folder);
    return TextTokenizer.load(folderSource(folder.dir));
  };
  const once = ONCE_IDS.slice(1);

  it('add_bos_token: false overrides a post-processor that adds BOS', async () => {
    const tok = await withFiles({ 'tokenizer.json': storiesJson(), 'tokenizer_config.json': { ...storiesConfig(), add_bos_token: false } });
    expect(tok.encode('Once upon a time')).toEqual(once);
  });

  it('add_eos_token: true appends EOS', async () => {
    const tok = await withFiles({ 'tokenizer.json': storiesJson(), 'tokenizer_config.json': { ...storiesConfig(), add_eos_token: true } });
    expect(tok.encode('Once upon a time')).toEqual([1, ...once, 2]);
    expect(tok.encode('Once upon a time', { addSpecialTokens: false })).toEqual(once);
  });

  it('add_bos_token: true adds BOS when tokenizer.json has no post-processor', async () => {
    const tok = await withFiles({ 'tokenizer.json': { ...storiesJson(), post_processor: null }, 'tokenizer_config.json': storiesConfig() });
    expect(tok.encode('Once upon a time')).toEqual(ONCE_IDS);
  });

  it('without tokenizer_config.json the post-processor decides, and special_tokens_map.json names the tokens', async () => {
    const specialMap = readModelJson('stories260K', 'special_tokens_map.json');
    const tok = await withFiles({ 'tokenizer.json': storiesJson(), 'special_tokens_map.json': specialMap });
    expect(tok.encode('Once upon a time')).toEqual(ONCE_IDS);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
  });

  it('no post-processor and no flags: nothing is added', async () => {
    const tok = await withFiles({ 'tokenizer.json': { ...storiesJson(), post_processor: null } });
    expect(tok.encode('Once upon a time')).toEqual(once);
    expect(tok.bosTokenId).toBeNull();
  });

  it('a special token that is not in the vocabulary is an error naming it', async () => {
    const config = { ...storiesConfig(), pad_token: { content: '<pad>' } };
    await expect(withFiles({ 'tokenizer.json': storiesJson(), 'tokenizer_config.json': config })).rejects.toThrow(/pad_token "<pad>"/);
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('the special tokens encode() puts in front'), () => {
  // Formatting encodes a prompt once with these in front instead of twice (with and without
  // special tokens) and searching: they must be exactly what encode() puts there.
  const texts = ['Once upon a time', '', ' 안녕하세요, 고객님!\n\n', '<s> already a BOS text', '😀 ### Output:\n'];
  for (const [name, want] of [['stories260K', ['<s>']], ['llama3-vocab', ['<|begin_of_text|>']], ['gemma3-vocab', ['<bos>']], ['qwen2.5-vocab', []], ['tiny-random-gpt2', []]] as const) {
    it(`${name}: ${want.length ? want.join(' ') : 'none'}, and encode(text) is them followed by the text's own ids`, async () => {
      const tok = await load(name);
      const leading = tok.leadingSpecialIds();
      expect(leading).toEqual(want.map((t) => tok.tokenToId(t)));
      for (const text of texts) {
        const all = tok.encode(text);
        expect(all.slice(0, leading!.length)).toEqual(leading);
        expect(all.slice(leading!.length, all.length)).toEqual(tok.encode(text, { addSpecialTokens: false }));
      }
    });
  }
});
