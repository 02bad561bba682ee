// StreamDecoder: the pieces pushed out one id at a time add up to the full decode, and a
// character split over byte-fallback tokens appears only once it is complete.
import { describe, expect, it } from 'vitest';
import { StreamDecoder, type TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer as load, suiteTitle } from './fixtures.js';
import { AFTER_ONCE_IDS, AFTER_ONCE_TEXT, FROM_BOS_IDS, FROM_BOS_TEXT, ONCE_IDS } from '../stories-readme.js';

/** Every push's output (and the flush) in order. */
function stream(tok: TextTokenizer, ids: number[], promptIds?: number[]): string[] {
  const decoder = new StreamDecoder(tok, promptIds);
  const pieces = ids.map((id) => decoder.push(id));
  pieces.push(decoder.flush());
  return pieces;
}

describe.skipIf(!SHARED_DIR)(suiteTitle('StreamDecoder'), () => {
  it('streams the README continuation after its prompt', async () => {
    const tok = await load('stories260K');
    const pieces = stream(tok, AFTER_ONCE_IDS, ONCE_IDS);
    expect(pieces.join('')).toBe(AFTER_ONCE_TEXT);
    expect(pieces[0]).toBe(',');
    expect(pieces[1]).toBe(' there'); // the space survives: the prompt is the context
  });

  it('streams without a prompt exactly as decode() reads the ids alone', async () => {
    const tok = await load('stories260K');
    expect(stream(tok, AFTER_ONCE_IDS).join('')).toBe(tok.decode(AFTER_ONCE_IDS));
    const fromBos = stream(tok, FROM_BOS_IDS, [1]);
    expect(fromBos.join('')).toBe(FROM_BOS_TEXT);
    expect(fromBos[0]).toBe('Once'); // the decoder's leading-space strip applies once
  });

  it('holds back byte-fallback tokens until the character is complete', async () => {
    const tok = await load('stories260K');
    const text = '고양이가 좋아요 😺!';
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.length).toBeGreaterThan(20); // three or four byte tokens per character
    const pieces = stream(tok, ids, [1]);
    expect(pieces.join('')).toBe(text);
    for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
    expect(pieces.filter((p) => p === '').length).toBeGreaterThan(10);
  });

  it('flush() returns an incomplete character as U+FFFD', async () => {
    const tok = await load('stories260K');
    const decoder = new StreamDecoder(tok, [1]);
    const [lead] = tok.encode('고', { addSpecialTokens: false }).slice(1); // after the '▁' piece
    decoder.push(tok.encode('a', { addSpecialTokens: false })[0]);
    expect(decoder.push(lead)).toBe('');
    expect(decoder.flush()).toBe('\uFFFD');
  });

  it('streams GPT-2 byte-level text', async () => {
    const tok = await load('tiny-random-gpt2');
    const text = 'Streaming text, token by token: café ☕ works.';
    const ids = tok.encode(text);
    const pieces = stream(tok, ids);
    expect(pieces.join('')).toBe(tok.decode(ids));
    for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
  });
});
