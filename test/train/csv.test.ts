// The RFC 4180 parser on its own: quoting, doubled quotes, line breaks inside and between
// records, and the line each record starts on.
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/train/csv.js';

const fieldsOf = (text: string) => parseCsv(text).records.map((r) => r.fields);

describe('parseCsv', () => {
  it('splits plain fields and records', () => {
    expect(fieldsOf('a,b\nc,d\n')).toEqual([['a', 'b'], ['c', 'd']]);
    expect(fieldsOf('a,b\nc,d')).toEqual([['a', 'b'], ['c', 'd']]);
  });

  it('keeps empty fields, including a trailing one', () => {
    expect(fieldsOf('a,,c\n,,\nx,')).toEqual([['a', '', 'c'], ['', '', ''], ['x', '']]);
  });

  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    const text = '"a, b","say ""hi""","line 1\nline 2"\n"",x,"""quoted"""\n';
    expect(fieldsOf(text)).toEqual([
      ['a, b', 'say "hi"', 'line 1\nline 2'],
      ['', 'x', '"quoted"'],
    ]);
  });

  it('treats CRLF, LF and a lone CR as record breaks and writes breaks inside quotes as LF', () => {
    expect(fieldsOf('a,b\r\nc,d\re,f\n')).toEqual([['a', 'b'], ['c', 'd'], ['e', 'f']]);
    expect(fieldsOf('"x\r\ny\rz",w\r\n')).toEqual([['x\ny\nz', 'w']]);
  });

  it('ignores a UTF-8 byte-order mark', () => {
    expect(fieldsOf('\uFEFFinput,output\n')).toEqual([['input', 'output']]);
  });

  it('takes a quote inside an unquoted field literally', () => {
    expect(fieldsOf('a 5" screen,b\n')).toEqual([['a 5" screen', 'b']]);
  });

  it('gives each record the line it starts on', () => {
    const text = 'h1,h2\n"two\nlines",x\r\n\r\n"three\n\nlines",y\nlast,z';
    expect(parseCsv(text).records.map((r) => r.line)).toEqual([1, 2, 4, 5, 8]);
  });

  it('reports a quote that is never closed, at the line its record starts', () => {
    const { records, problems } = parseCsv('a,b\nc,d\ne,"open\nmore\n');
    expect(records.map((r) => r.fields)).toEqual([['a', 'b'], ['c', 'd']]);
    expect(problems).toEqual([{ line: 3, message: expect.stringMatching(/quoted field opened on line 3 is never closed/) }]);
  });

  it('reports text after a closing quote and drops that record', () => {
    const { records, problems } = parseCsv('a,b\n"c"d,e\nf,g\n');
    expect(records.map((r) => r.fields)).toEqual([['a', 'b'], ['f', 'g']]);
    expect(problems).toEqual([{ line: 2, message: expect.stringMatching(/text follows the closing quote/) }]);
  });
});
