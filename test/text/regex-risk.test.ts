// Which regular expressions from untrusted files are matched (src/text/regex-risk.ts): the
// patterns real tokenizers and PEFT adapters hold pass; patterns whose backtracking has no useful
// bound are refused, saying why; and a tokenizer.json holding one fails to load, naming the field.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { folderSource } from '../../src/model/source-node.js';
import { backtrackingRisk } from '../../src/text/regex-risk.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { SHARED_DIR } from '../helpers.js';
import { modelDir, suiteTitle, tempFolder } from '../tokenize/fixtures.js';

/** GPT-2's pre-tokenizer pattern (as @huggingface/tokenizers' ByteLevel has it), and two PEFT target_modules patterns. */
const REAL = [
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  '.*\\.(q_proj|v_proj)',
  '^(?!.*vision).*(q|k|v)_proj$',
];

describe('backtrackingRisk', () => {
  it('passes the patterns real files hold, the real tokenizers of ../shared included', () => {
    for (const p of REAL) expect(backtrackingRisk(p), p).toBeNull();
    if (!SHARED_DIR) return;
    for (const name of ['llama3-vocab', 'qwen2.5-vocab', 'qwen3-vocab']) {
      const json = JSON.parse(readFileSync(join(modelDir(name), 'tokenizer.json'), 'utf8'));
      const regex = json.pre_tokenizer.pretokenizers[0].pattern.Regex as string;
      expect(backtrackingRisk(regex), name).toBeNull();
    }
  });

  it('refuses repeated groups, many repeats in one alternative and very long patterns', () => {
    expect(backtrackingRisk('(a+)+b')).toBe('a group is repeated');
    expect(backtrackingRisk('(?:x|y)*z')).toBe('a group is repeated');
    expect(backtrackingRisk('(ab){2,}')).toBe('a group is repeated');
    expect(backtrackingRisk('.*.*.*.*x')).toBe('4 repeats (*, + or {n,m}) in one alternative, more than 3');
    expect(backtrackingRisk('a*b*|c*d*|e+f+')).toBeNull(); // two in each alternative
    expect(backtrackingRisk('[(]+[)]*\\(\\)*')).toBeNull(); // brackets in a class and escaped ones are not groups
    expect(backtrackingRisk('x'.repeat(1001))).toBe('it is longer than 1000 characters');
  });
});

describe.skipIf(!SHARED_DIR)(suiteTitle('a tokenizer.json with a hostile pattern'), () => {
  it('fails to load, naming the field, instead of hanging the first encode', async () => {
    const json = JSON.parse(readFileSync(join(modelDir('stories260K'), 'tokenizer.json'), 'utf8'));
    json.pre_tokenizer = { type: 'Split', pattern: { Regex: '(\\s+)+$' }, behavior: 'Isolated', invert: false };
    const folder = tempFolder([join(modelDir('stories260K'), 'tokenizer_config.json')], { 'tokenizer.json': json });
    try {
      await expect(TextTokenizer.load(folderSource(folder.dir))).rejects.toThrow(
        /tokenizer\.json: pre_tokenizer\.pattern\.Regex "\(\\\\s\+\)\+\$" is a regular expression whose matching time cannot be bounded \(a group is repeated\)/,
      );
    } finally {
      folder.remove();
    }
  });
});
