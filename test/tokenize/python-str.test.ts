// Python's str.strip/lstrip/rstrip and jinja2's trim filter, in chat templates: the expected values
// are what CPython 3 and jinja2 3.1 give (computed there and written down here), so these checks
// need neither Python nor ../shared.
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { compileChatTemplate } from '../../src/tokenize/chat-template.js';
import { PYTHON_STRING_FUNCTIONS } from '../../src/tokenize/jinja-python.js';
import { PYTHON_WHITESPACE, pythonStrip, type StripSide } from '../../src/tokenize/python-str.js';

const SIDE: Record<string, StripSide> = { strip: 'both', lstrip: 'left', rstrip: 'right' };

/** [string, method, chars (null = no argument), Python's result]. */
const PYTHON_RESULTS: Array<[string, string, string | null, string]> = [
  ['xxhixx', 'strip', 'x', 'hi'],
  ['xxhixx', 'lstrip', 'x', 'hixx'],
  ['xxhixx', 'rstrip', 'x', 'xxhi'],
  ['\n\n  a', 'lstrip', '\n', '  a'],
  ['\n\n  a\n \n', 'rstrip', '\n', '\n\n  a\n '],
  ['\n\n  a\n\n', 'strip', '\n', '  a'],
  ['abcxcba', 'strip', 'ab', 'cxc'],
  ['abcxcba', 'strip', 'cba', 'x'],
  ['<<a>>', 'strip', '<>', 'a'],
  ['aaa', 'strip', 'a', ''],
  ['hi', 'strip', '', 'hi'],
  ['  \t a b \n ', 'strip', null, 'a b'],
  ['\x1c\x85 a\ufeff\u3000', 'strip', null, 'a\ufeff'],
  ['\ufeffa\ufeff', 'strip', null, '\ufeffa\ufeff'],
  ['\u00a0\u2028a\u205f', 'lstrip', null, 'a\u205f'],
  ['🙂a🙂', 'strip', '🙂', 'a'],
  ['🙂a🙂', 'strip', 'x', '🙂a🙂'],
  ['', 'strip', 'x', ''],
  ['  ', 'rstrip', null, ''],
];

/** Render a template string with only the functions the Python rewrite calls. */
const render = (source: string) => compileChatTemplate(source, 'a test').render({ ...PYTHON_STRING_FUNCTIONS });

describe("Python's str.strip / lstrip / rstrip", () => {
  it.each(PYTHON_RESULTS)('%j.%s(%j) is %j', (s, method, chars, want) => {
    expect(pythonStrip(s, chars, SIDE[method])).toBe(want);
  });

  it("has exactly str.isspace()'s 29 code points as whitespace, unlike JavaScript's trim()", () => {
    expect(PYTHON_WHITESPACE.size).toBe(29);
    for (const cp of [0x1c, 0x1d, 0x1e, 0x1f, 0x85]) {
      expect(PYTHON_WHITESPACE.has(cp)).toBe(true);
      expect(String.fromCodePoint(cp).trim()).not.toBe(''); // JavaScript keeps these
    }
    expect(PYTHON_WHITESPACE.has(0xfeff)).toBe(false);
    expect('\ufeff'.trim()).toBe(''); // JavaScript strips the byte-order mark; Python keeps it
  });
});

describe('chat templates use Python string semantics', () => {
  it('honours the chars argument of strip, lstrip and rstrip (the library alone ignores it)', () => {
    const source = "{{ 'xxhixx'.strip('x') }}|{{ '\\n\\n  a'.lstrip('\\n') }}|{{ '  a  '.rstrip() }}|{{ 'ab'.strip(none) }}";
    expect(new Template(source).render({})).not.toBe('hi|  a|  a|ab'); // the library by itself
    expect(render(source)).toBe('hi|  a|  a|ab'); // jinja2
  });

  it("makes the trim filter Python's strip, with chars positional or by keyword, and chained calls work", () => {
    const source =
      "{{ '  xhix  ' | trim }}|{{ 'xhix' | trim('x') }}|{{ 'xhiy' | trim(chars='xy') }}|{{ ' a '.strip().upper() }}|{{ (' a ' | trim).lstrip('a') }}";
    expect(render(source)).toBe('xhix|hi|hi|A|');
    expect(render("{{ 5 | trim }}|{{ '\\x85a\\ufeff' | trim }}")).toBe('5|a\ufeff');
  });

  it("applies to Qwen3's reply code: split('</think>')[-1].lstrip('\\n') keeps a leading space", () => {
    const source = "{% set c = m.split('</think>')[-1].lstrip('\\n') %}[{{ c }}]{{ m.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}";
    const t = compileChatTemplate(source, 'a test');
    expect(t.render({ ...PYTHON_STRING_FUNCTIONS, m: ' chat' })).toBe('[ chat] chat');
    expect(t.render({ ...PYTHON_STRING_FUNCTIONS, m: '<think>\nwhy\n\n</think>\n\n answer' })).toBe('[ answer]why');
  });

  it('raises where Python raises', () => {
    expect(() => render('{{ [1].strip() }}')).toThrow("'list object' has no attribute 'strip'");
    expect(() => render("{{ 'a'.strip(1) }}")).toThrow('strip arg must be None or str');
    expect(() => render("{{ 'a'.strip('a', 'b') }}")).toThrow('strip expected at most 1 argument, got 2');
  });
});
