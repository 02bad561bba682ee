// Training files → examples: every accepted JSONL form and CSV layout, format detection, and the
// errors (every bad line named in one DatasetError).
import { describe, expect, it } from 'vitest';
import { DatasetError, detectFormat, parseDataset, type Example } from '../../src/train/dataset.js';

const KO_IN = '배송은 언제 오나요?';
const KO_OUT = '주문 후 2~3일 안에 도착합니다.';
const pair = (input: string, output: string) => [
  { role: 'user', content: input },
  { role: 'assistant', content: output },
];
const jsonl = (...rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');

/** The DatasetError that parsing `text` throws. */
function errorOf(text: string, format: 'jsonl' | 'csv' | 'auto' = 'auto', fileName = 'data.jsonl'): DatasetError {
  try {
    parseDataset(text, format, fileName);
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('parseDataset did not throw');
}

describe('parseDataset: JSONL', () => {
  it('reads the {input, output} form, in Korean too', () => {
    const text = jsonl({ input: KO_IN, output: KO_OUT }, { input: 'a', output: 'b', id: 7 });
    expect(parseDataset(text, 'jsonl')).toEqual<Example[]>([
      { messages: pair(KO_IN, KO_OUT) as Example['messages'], line: 1 },
      { messages: pair('a', 'b') as Example['messages'], line: 2 },
    ]);
  });

  it('reads {prompt, completion}, Alpaca and messages forms, mixed line by line', () => {
    const text = jsonl(
      { prompt: 'p', completion: 'c' },
      { instruction: 'Translate.', input: 'hello', output: '안녕하세요' },
      { instruction: 'Say hi.', input: '', output: 'hi' },
      { instruction: 'Say bye.', output: 'bye' },
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'q1' },
          { role: 'assistant', content: 'a1' },
          { role: 'user', content: 'q2' },
          { role: 'assistant', content: 'a2' },
        ],
      },
    );
    const examples = parseDataset(text, 'auto');
    expect(examples.map((e) => e.messages)).toEqual([
      pair('p', 'c'),
      pair('Translate.\n\nhello', '안녕하세요'),
      pair('Say hi.', 'hi'),
      pair('Say bye.', 'bye'),
      [{ role: 'system', content: 'Be brief.' }, ...pair('q1', 'a1'), ...pair('q2', 'a2')],
    ]);
    expect(examples.map((e) => e.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it('skips blank lines, keeps physical line numbers, and accepts CRLF and a BOM', () => {
    const text = '\uFEFF' + ['', JSON.stringify({ input: 'a', output: 'b' }), '   ', JSON.stringify({ input: 'c', output: 'd' }), ''].join('\r\n');
    expect(parseDataset(text, 'jsonl').map((e) => e.line)).toEqual([2, 4]);
  });

  it('names every bad line in one error', () => {
    const text = jsonl(
      { input: 'ok', output: 'ok' }, //                        1
      { input: 'ok', output: 'ok' }, //                        2
      '{"input": "x", output: 1}', //                          3  not JSON
      { input: 'ok', output: 'ok' }, //                        4
      { input: 'x' }, //                                       5  missing output
      { input: 'ok', output: 'ok' }, //                        6
      { input: 'x', output: '  ' }, //                         7  empty output
      { input: 'ok', output: 'ok' }, //                        8
      { input: 3, output: 'y' }, //                            9  input not a string
      { messages: [{ role: 'user', content: 'hi' }] }, //     10  no assistant
      { messages: [{ role: 'bot', content: 'hi' }] }, //      11  unknown role
      [1, 2], //                                              12  not an object
      { question: 'q', answer: 'a' }, //                      13  no known keys
    );
    const e = errorOf(text);
    expect(e.problems.map((p) => p.line)).toEqual([3, 5, 7, 9, 10, 11, 12, 13]);
    const lines = e.message.split('\n');
    expect(lines[0]).toMatch(/^data\.jsonl:3: not valid JSON \(.+\)$/);
    expect(lines[1]).toBe('data.jsonl:5: missing "output"');
    expect(lines[2]).toBe('data.jsonl:7: "output" is empty');
    expect(lines[3]).toBe('data.jsonl:9: "input" must be a string, not a number');
    expect(lines[4]).toBe('data.jsonl:10: there is no assistant message, so there is nothing to learn');
    expect(lines[5]).toMatch(/^data\.jsonl:11: message 1 has the role "bot"; the role must be "system", "user" or "assistant"$/);
    expect(lines[6]).toMatch(/^data\.jsonl:12: expected a JSON object .*found a list$/);
    expect(lines[7]).toMatch(/^data\.jsonl:13: missing "input" and "output" \(it has "question", "answer"; accepted forms: /);
    expect(lines).toHaveLength(8);
  });

  it('reports every problem of one line, and the shape of a conversation', () => {
    const e = errorOf(
      jsonl(
        {},
        { messages: [{ role: 'user', content: 1 }, { role: 'assistant' }] },
        { messages: [{ role: 'user', content: 'a' }, { role: 'system', content: 's' }, { role: 'assistant', content: 'b' }] },
        { messages: [{ role: 'assistant', content: 'a' }, { role: 'user', content: 'b' }] },
        { messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }, { role: 'assistant', content: 'c' }] },
        { messages: 'hello' },
        { messages: [] },
      ),
    );
    expect(e.message.split('\n')).toEqual([
      'data.jsonl:1: missing "input" and "output" (it is empty; accepted forms: {"input", "output"}, {"prompt", "completion"}, {"messages": [...]} or {"instruction", "input", "output"})',
      `data.jsonl:2: message 1's "content" must be a string, not a number`,
      'data.jsonl:2: message 2 has no "content"',
      'data.jsonl:3: message 2 is a system message; only the first message may be one',
      'data.jsonl:4: message 1 is from the assistant; the conversation must start with a user message (after an optional system message)',
      'data.jsonl:4: the last message is from the user; the conversation must end with the assistant\'s reply',
      'data.jsonl:5: messages 1 and 2 are both from the user; user and assistant turns must alternate',
      'data.jsonl:6: "messages" must be a list of {"role", "content"} objects, not a string',
      'data.jsonl:7: "messages" is empty',
    ]);
  });

  it('lists at most 50 problems in the message, and all of them in .problems', () => {
    const text = Array.from({ length: 120 }, () => '{"input": "x"}').join('\n');
    const e = errorOf(text);
    expect(e.problems).toHaveLength(120);
    const lines = e.message.split('\n');
    expect(lines).toHaveLength(51);
    expect(lines[49]).toBe('data.jsonl:50: missing "output"');
    expect(lines[50]).toBe('and 70 more');
  });

  it('reports an empty file and a file that is one JSON list', () => {
    expect(errorOf('').message).toBe('data.jsonl: the file is empty');
    expect(errorOf(' \n\n  \n', 'csv', 'data.csv').message).toBe('data.csv: the file is empty');
    expect(errorOf('[\n  {"input": "a", "output": "b"}\n]').message).toMatch(/^data\.jsonl:1: the file is one JSON list; write one JSON object per line/);
  });
});

describe('parseDataset: CSV', () => {
  it('reads input/output columns in any case and order, ignoring other columns', () => {
    const text = `id,Output,INPUT\n1,${KO_OUT},${KO_IN}\n2,b,a\n`;
    expect(parseDataset(text, 'csv')).toEqual([
      { messages: pair(KO_IN, KO_OUT), line: 2 },
      { messages: pair('a', 'b'), line: 3 },
    ]);
  });

  it('reads quoted fields spanning lines, CRLF and a BOM, with the line each row starts on', () => {
    const text = '\uFEFFinput,output\r\n"Hello, world","He said ""hi""\r\nthen left."\r\n\r\nplain,"x"\r\n';
    expect(parseDataset(text, 'auto', 'data.csv')).toEqual([
      { messages: pair('Hello, world', 'He said "hi"\nthen left.'), line: 2 },
      { messages: pair('plain', 'x'), line: 5 },
    ]);
  });

  it('reads prompt/completion and instruction/input/output headers', () => {
    expect(parseDataset('prompt,completion\np,c\n', 'csv')[0].messages).toEqual(pair('p', 'c'));
    const alpaca = parseDataset('instruction,input,output\nTranslate.,hello,hola\nSay hi.,,hi\n', 'csv');
    expect(alpaca.map((e) => e.messages)).toEqual([pair('Translate.\n\nhello', 'hola'), pair('Say hi.', 'hi')]);
  });

  it('names the columns it found when input/output are missing', () => {
    expect(errorOf('question,answer\nq,a\n', 'csv', 'data.csv').message).toBe(
      'data.csv:1: the header row has no "input" and "output" columns (found: "question", "answer"); name them input and output (or prompt and completion)',
    );
    expect(errorOf('input;output\nq;a\n', 'csv', 'data.csv').message).toMatch(/found: "input;output".*separated by commas$/);
  });

  it('names every bad row: wrong field counts, empty values, bad quoting', () => {
    const text = ['input,output', 'a,b', 'a,b,c', 'a,', '"a"x,b', 'lonely', 'c,"d', 'never closed'].join('\n');
    const e = errorOf(text, 'csv', 'data.csv');
    expect(e.message.split('\n')).toEqual([
      'data.csv:3: 3 fields, but the header row has 2 (a value that contains a comma, a quote or a line break must be in double quotes)',
      'data.csv:4: "output" is empty',
      'data.csv:5: text follows the closing quote of a field (a quote inside a quoted field is written as two quotes: "")',
      'data.csv:6: 1 field, but the header row has 2 (a value that contains a comma, a quote or a line break must be in double quotes)',
      'data.csv:7: the quoted field opened on line 7 is never closed (a quote inside a quoted field is written as two quotes: "")',
    ]);
  });

  it('reports a header without rows', () => {
    expect(errorOf('input,output\n\n', 'csv', 'data.csv').message).toBe('data.csv: the file has a header row but no examples');
  });
});

describe('detectFormat', () => {
  it("picks JSONL when the first non-empty line starts with '{', else CSV", () => {
    expect(detectFormat('\n\n  {"input": "a"}')).toBe('jsonl');
    expect(detectFormat('input,output\n{"a": 1},b')).toBe('csv');
    expect(detectFormat('"{x}",y')).toBe('csv');
  });
});
