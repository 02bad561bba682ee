// A training file as bytes: what each unusual byte sequence does. A UTF-8 byte-order mark and
// Windows line ends (CRLF) are accepted and leave no trace in the examples; NUL bytes, invalid
// UTF-8 and UTF-16 text are refused with an error naming the line; a CSV header row that names a
// column twice is refused, naming the column and the line; and a file with a problem on each of
// 200,000 lines is reported whole, not with a stack overflow.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliInProcess } from '../cli/run-cli.js';
import { DatasetError, decodeDataset, parseDataset } from '../../src/train/dataset.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: Array<Uint8Array | number[]>) => Uint8Array.from(parts.flatMap((p) => [...p]));

/** The DatasetError that `run` throws. */
function errorOf(run: () => unknown): DatasetError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('no DatasetError was thrown');
}

describe('dataset bytes', () => {
  it('accepts a UTF-8 BOM and CRLF line ends, in JSONL and CSV, with the right lines and no \\r in the text', () => {
    const jsonl = concat([0xef, 0xbb, 0xbf], utf8('{"input":"a","output":"b"}\r\n\r\n{"input":"c","output":"é"}\r\n'));
    const examples = parseDataset(decodeDataset(jsonl, 'd.jsonl'), 'auto', 'd.jsonl');
    expect(examples.map((e) => [e.line, e.messages[0].content, e.messages[1].content])).toEqual([[1, 'a', 'b'], [3, 'c', 'é']]);
    const csv = concat([0xef, 0xbb, 0xbf], utf8('input,output\r\nx,"two\r\nlines"\r\ny,z\r\n'));
    const rows = parseDataset(decodeDataset(csv, 'd.csv'), 'csv', 'd.csv');
    expect(rows.map((e) => [e.line, e.messages[0].content, e.messages[1].content])).toEqual([[2, 'x', 'two\nlines'], [4, 'y', 'z']]);
  });

  it('refuses invalid UTF-8, naming each line and the byte', () => {
    // Line 2 holds "café" in Latin-1 (0xE9 alone), line 4 a sequence cut short (0xE2 0x82 then a quote).
    const bytes = concat(utf8('{"input":"a","output":"b"}\n{"input":"caf'), [0xe9], utf8('","output":"b"}\n{"input":"ok","output":"ok"}\n{"input":"'), [0xe2, 0x82], utf8('","output":"b"}\n'));
    const e = errorOf(() => decodeDataset(bytes, 'latin.jsonl'));
    expect(e.problems.map((p) => p.line)).toEqual([2, 4]);
    expect(e.message).toMatch(/^latin\.jsonl:2: .*not valid UTF-8.*0xE9/);
    expect(e.message).toMatch(/latin\.jsonl:4: .*0xE2/);
    expect(e.message).toMatch(/save the file as UTF-8/);
  });

  it('refuses UTF-16 text with one clear problem', () => {
    const le = concat([0xff, 0xfe], ...[...'input,output\n'].map((c) => [c.charCodeAt(0), 0]));
    const e = errorOf(() => decodeDataset(le, 'wide.csv'));
    expect(e.problems).toHaveLength(1);
    expect(e.message).toMatch(/wide\.csv: .*UTF-16.*save it as UTF-8/);
  });

  it('refuses NUL bytes, naming each line that has one', () => {
    const text = 'input,output\na,b\nc\u0000,d\ne,f\u0000\u0000\n';
    const e = errorOf(() => parseDataset(text, 'csv', 'nul.csv'));
    expect(e.problems.map((p) => p.line)).toEqual([3, 4]);
    expect(e.message).toMatch(/^nul\.csv:3: .*NUL byte/);
    // In JSONL too (where JSON.parse would only say "Bad control character").
    const j = errorOf(() => parseDataset('{"input":"a","output":"b"}\r\n{"input":"a\u0000","output":"b"}', 'jsonl', 'nul.jsonl'));
    expect(j.problems).toEqual([{ line: 2, message: expect.stringMatching(/NUL byte/) }]);
  });

  it('refuses a CSV header that names a column twice, naming the column and the line', () => {
    const e = errorOf(() => parseDataset('\n\ninput,output,Output\na,b,c\n', 'csv', 'dup.csv'));
    expect(e.problems).toHaveLength(1);
    expect(e.message).toMatch(/^dup\.csv:3: the header row names the column "output" twice \(columns 2 and 3\)/);
    // A name used twice that no layout reads is refused too: which of the two was meant is unknown.
    expect(errorOf(() => parseDataset('input,output,notes,notes\na,b,c,d\n', 'csv', 'n.csv')).message).toMatch(/n\.csv:1: .*"notes" twice \(columns 3 and 4\)/);
    // Blank header cells are not names: two of them are fine.
    expect(parseDataset('input,output,,\na,b,,\n', 'csv', 'ok.csv')).toHaveLength(1);
  });

  it('reports a problem on each of 200,000 lines without overflowing the stack', () => {
    const text = `input,output\n${'"a"b,c\n'.repeat(200_000)}`;
    const t = performance.now();
    const e = errorOf(() => parseDataset(text, 'csv', 'bad.csv'));
    expect(e.problems).toHaveLength(200_000);
    expect(e.problems[199_999].line).toBe(200_001);
    expect(e.message.split('\n')).toHaveLength(51);
    expect(performance.now() - t).toBeLessThan(10_000);
  });
});

describe('webgpu-lora train on a file that is not UTF-8', () => {
  it('names the line and the byte on stderr, exits 1 and loads nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-bytes-'));
    const data = join(dir, 'latin.csv');
    writeFileSync(data, concat(utf8('input,output\nhello,world\ncaf'), [0xe9], utf8(',ok\n')));
    const r = await cliInProcess(['train', '--model', './no/such/model', '--data', data, '--out', join(dir, 'out')]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^latin\.csv:3: not valid UTF-8 \(the byte 0xE9 at byte 28 of the file\)/m);
    expect(r.stderr).not.toMatch(/no\/such\/model/);
  });
});
