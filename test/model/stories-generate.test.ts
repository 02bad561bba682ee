// stories260K generates the reference greedy continuations of its README exactly.
import { describe, expect, it } from 'vitest';
import { generateTokens } from '../../src/generate/generate.js';
import { generateText } from '../../src/generate/text.js';
import { LanguageModel } from '../../src/model/model.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { AFTER_ONCE_IDS, FROM_BOS_IDS, ONCE_IDS, STORIES_DIR } from '../stories-readme.js';

describe.skipIf(!SHARED_DIR)(`stories260K greedy generation${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const load = async () => {
    const ctx = await gpu();
    const source = folderSource(STORIES_DIR);
    return { ctx, model: await LanguageModel.load(ctx, source), tokenizer: await TextTokenizer.load(source) };
  };

  it('reproduces the 200 tokens from BOS alone and after "Once upon a time"', async () => {
    const { model, tokenizer } = await load();
    expect(FROM_BOS_IDS).toHaveLength(200);
    expect(AFTER_ONCE_IDS).toHaveLength(200);

    const a = await generateTokens(model, [1], { maxNewTokens: 200 });
    expect(a.ids).toEqual(FROM_BOS_IDS);

    const promptIds = tokenizer.encode('Once upon a time');
    expect(promptIds).toEqual(ONCE_IDS);
    const b = await generateTokens(model, promptIds, { maxNewTokens: 200 });
    expect(b.ids).toEqual(AFTER_ONCE_IDS);
    model.destroy();
  });

  it('streams the decoded continuation, and seeded sampling is repeatable', async () => {
    const { model, tokenizer } = await load();
    const pieces: string[] = [];
    const r = await generateText(model, tokenizer, 'Once upon a time', { maxNewTokens: 40, onText: (t) => pieces.push(t) });
    expect(r.text).toBe(tokenizer.decode(AFTER_ONCE_IDS.slice(0, 40)));
    expect(pieces.join('')).toBe(r.text);
    expect(pieces.length).toBeGreaterThan(10);

    const opts = { maxNewTokens: 30, temperature: 1, topK: 40, topP: 0.9, seed: 7 };
    const s1 = await generateTokens(model, [1], opts);
    const s2 = await generateTokens(model, [1], opts);
    const s3 = await generateTokens(model, [1], { ...opts, seed: 8 });
    expect(s1.ids).toEqual(s2.ids);
    expect(s3.ids).not.toEqual(s1.ids);
    model.destroy();
  });

  it('stops at an EOS id', async () => {
    const { model } = await load();
    // Declare the 6th greedy token an end-of-sequence id: generation ends right there.
    const r = await generateTokens(model, [1], { maxNewTokens: 50, eosTokenIds: [FROM_BOS_IDS[5]] });
    expect(r.stopReason).toBe('eos');
    expect(r.ids).toEqual(FROM_BOS_IDS.slice(0, 6));
    model.destroy();
  });
});
