// Stop sequences applied to streamed text (src/serve/stop.ts): the answer ends just before the
// first stop string, which is left out; a stop string split over pieces is still found; and no
// piece sent is ever text that the final answer does not have.
import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/serve/stop.js';

/** The pieces a matcher sends for `pieces`, and whether it stopped. */
function run(stops: string[], pieces: string[]): { sent: string[]; stopped: boolean } {
  const sent: string[] = [];
  const m = new StopMatcher(stops, (t) => sent.push(t));
  for (const p of pieces) {
    m.push(p);
    if (m.stopped) break;
  }
  const stopped = m.stopped;
  m.finish();
  return { sent, stopped };
}

describe('StopMatcher', () => {
  it('ends the text before the stop string and leaves the string out', () => {
    const r = run(['girl'], ['Once there was a little ', 'girl named Lily.']);
    expect(r.sent.join('')).toBe('Once there was a little ');
    expect(r.stopped).toBe(true);
  });

  it('finds a stop string split over several pieces, and holds back its start meanwhile', () => {
    const r = run(['\n\n###'], ['Hello', '\n', '\n', '#', '#', '#', ' more']);
    expect(r.sent.join('')).toBe('Hello');
    expect(r.sent).toEqual(['Hello']); // the newlines were never sent: they began the stop string
    expect(r.stopped).toBe(true);
  });

  it('sends held-back text once it can no longer begin a stop string', () => {
    const sent: string[] = [];
    const m = new StopMatcher(['END'], (t) => sent.push(t));
    m.push('the E');
    expect(sent).toEqual(['the ']);
    m.push('ND'.slice(0, 1)); // 'EN' may still become END
    expect(sent).toEqual(['the ']);
    m.push('d of it');
    expect(sent).toEqual(['the ', 'ENd of it']);
    m.finish();
    expect(m.stopped).toBe(false);
  });

  it('at the end of the answer, held-back text is part of it', () => {
    const r = run(['STOP'], ['ends with ST']);
    expect(r.sent.join('')).toBe('ends with ST');
    expect(r.stopped).toBe(false);
  });

  it('with several stop strings, the earliest match wins', () => {
    expect(run(['b', 'a'], ['xxabyy']).sent.join('')).toBe('xx');
    expect(run(['cd', 'bcdef'], ['abcdefg']).sent.join('')).toBe('a'); // 'bcdef' starts first
  });

  it('a stop string at the very start leaves an empty answer; no stops pass everything through', () => {
    const r = run(['Once'], ['Once upon']);
    expect(r.sent).toEqual([]);
    expect(r.stopped).toBe(true);
    expect(run([], ['a', '', 'b']).sent).toEqual(['a', 'b']);
  });

  it('every prefix of what a stream sent is a prefix of the final answer, for every split of the text', () => {
    const text = 'abcab-cabd-abc';
    const stops = ['abd', 'cab-x'];
    const whole = run(stops, [text]).sent.join('');
    expect(whole).toBe('abcab-c'); // stops before 'abd'
    for (let i = 1; i < text.length; i++) {
      for (let j = i; j < text.length; j++) {
        const r = run(stops, [text.slice(0, i), text.slice(i, j), text.slice(j)]);
        expect(r.sent.join(''), `split at ${i}, ${j}`).toBe(whole);
      }
    }
  });
});
