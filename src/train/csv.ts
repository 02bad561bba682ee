// RFC 4180 CSV, parsed from a string (no Node APIs, so it runs in the browser too).
//
// Fields are separated by commas and records by line breaks (CRLF, LF, or a lone CR). A field in
// double quotes may hold commas, line breaks and quotes, a quote being written twice (""). A quote
// in the middle of an unquoted field is taken literally (5" screen), as spreadsheets do. Line
// breaks inside a quoted field become "\n" whatever the file uses, so a model is never taught to
// write "\r" because the file came from Windows.

export interface CsvRecord {
  /** The 1-based physical line of the file on which the record starts. */
  line: number;
  fields: string[];
}

export interface CsvProblem {
  line: number;
  message: string;
}

export interface CsvResult {
  records: CsvRecord[];
  /**
   * Malformed records: text after a closing quote, or a quote that is never closed (the parser
   * stops there, since everything after it would be read as one field).
   */
  problems: CsvProblem[];
}

/** Parses the whole text; a leading UTF-8 byte-order mark is ignored. */
export function parseCsv(text: string): CsvResult {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const n = src.length;
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  let i = 0;
  let line = 1;

  /** Consumes one line break at i, if there is one, and reports whether it did. */
  const lineBreak = (): boolean => {
    const c = src[i];
    if (c === '\r') {
      i += src[i + 1] === '\n' ? 2 : 1;
    } else if (c === '\n') {
      i += 1;
    } else {
      return false;
    }
    line++;
    return true;
  };

  while (i < n) {
    const recordLine = line;
    const fields: string[] = [];
    let bad = false;
    for (;;) {
      let value: string;
      if (src[i] === '"') {
        // A quoted field: everything up to the next lone quote, "" standing for one quote.
        const openLine = line;
        i++;
        value = '';
        for (;;) {
          const close = src.indexOf('"', i);
          if (close < 0) {
            problems.push({
              line: recordLine,
              message: `the quoted field opened on line ${openLine} is never closed (a quote inside a quoted field is written as two quotes: "")`,
            });
            return { records, problems };
          }
          const piece = normalizeBreaks(src.slice(i, close));
          line += countBreaks(piece);
          value += piece;
          if (src[close + 1] === '"') {
            value += '"';
            i = close + 2;
          } else {
            i = close + 1;
            break;
          }
        }
        if (i < n && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') {
          // Text after the closing quote ("abc"def): report it and skip to the end of the field.
          problems.push({
            line,
            message: 'text follows the closing quote of a field (a quote inside a quoted field is written as two quotes: "")',
          });
          bad = true;
          while (i < n && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') i++;
        }
      } else {
        const start = i;
        while (i < n && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') i++;
        value = src.slice(start, i);
      }
      fields.push(value);
      if (src[i] === ',') {
        i++;
        continue;
      }
      lineBreak();
      break;
    }
    if (!bad) records.push({ line: recordLine, fields });
  }
  return { records, problems };
}

/** CRLF and lone CR as LF. */
function normalizeBreaks(s: string): string {
  return s.includes('\r') ? s.replace(/\r\n?/g, '\n') : s;
}

function countBreaks(s: string): number {
  let count = 0;
  for (let k = s.indexOf('\n'); k >= 0; k = s.indexOf('\n', k + 1)) count++;
  return count;
}
