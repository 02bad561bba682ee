// A seeded fuzz test of the dataset reader (decodeDataset + parseDataset) on untrusted files: valid
// JSONL and CSV files (input/output, messages, prompt/completion forms; BOMs, CRLF, quoted CSV
// fields) mutated by byte flips, inserted bytes that matter to the parsers (quotes, commas,
// braces, newlines, NUL, lone UTF-8 continuation and lead bytes, a BOM in the middle),
// truncations and duplicated spans. Each outcome must be either examples that are consistent
// (every line within the file, in order, every message a non-empty string of a known role) or a
// DatasetError whose every problem names a line within the file (0: the file as a whole) and says
// what is wrong; never another exception, and fast.
import { describe, expect, it } from 'vitest';
import { DatasetError, decodeDataset, parseDataset } from '../../src/train/dataset.js';
import { prng, type Rng } from '../model/fuzz-files.js';

const SEED = 0x5eed5;
const CASES = 3000;
const ROLES = new Set(['system', 'user', 'assistant']);
const utf8 = (s: string) => new TextEncoder().encode(s);

const JSONL = [
  '{"input": "Who is Lily?", "output": "Lily is a girl."}',
  '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "안녕하세요"}, {"role": "assistant", "content": "안녕하세요! 무엇을 도와드릴까요?"}]}',
  '{"prompt": "2+2=", "completion": "4"}',
  '{"input": "emoji 😀 and \\"quotes\\"", "output": "fine\\nwith a newline"}',
].join('\r\n');
const CSV = 'input,output\n"Who is Tom?","Tom is a cat."\n"A, with a comma","and ""quotes""\non two lines"\nplain,text\n';

/** Bytes the parsers treat specially, and invalid UTF-8 pieces. */
const SPECIAL: number[][] = [[0x22], [0x2c], [0x7b], [0x7d], [0x0a], [0x0d, 0x0a], [0x00], [0x80], [0xc3], [0xef, 0xbb, 0xbf], [0x5c], [0xf0, 0x9f]];

function mutate(r: Rng, base: Uint8Array): Uint8Array {
  let bytes = Array.from(base);
  for (let k = 1 + r.int(2); k > 0; k--) {
    const at = r.int(bytes.length + 1);
    switch (r.int(5)) {
      case 0: bytes[Math.min(at, bytes.length - 1)] ^= 1 + r.int(255); break;
      case 1: bytes.splice(at, 0, ...r.pick(SPECIAL)); break;
      case 2: bytes = bytes.slice(0, at); break;
      case 3: bytes.splice(at, 1 + r.int(8)); break;
      default: {
        const from = r.int(bytes.length);
        bytes.splice(at, 0, ...bytes.slice(from, from + 1 + r.int(40)));
      }
    }
  }
  return Uint8Array.from(bytes);
}

describe('fuzzing the dataset reader', () => {
  it(`fuzzes ${CASES} mutated JSONL and CSV files (seed ${SEED.toString(16)}): consistent examples or a DatasetError naming lines`, () => {
    const r = prng(SEED);
    const outcomes = { examples: 0, errors: 0 };
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const csv = r.next() < 0.4;
      const name = csv ? 'fuzz.csv' : 'fuzz.jsonl';
      const bytes = mutate(r, utf8(csv ? CSV : JSONL));
      const lines = 1 + bytes.filter((b) => b === 0x0a || b === 0x0d).length;
      const t = performance.now();
      try {
        const examples = parseDataset(decodeDataset(bytes, name), r.pick(['auto', csv ? 'csv' : 'jsonl'] as const), name);
        outcomes.examples++;
        let last = 0;
        for (const ex of examples) {
          expect(ex.line, `case ${i}`).toBeGreaterThan(last);
          expect(ex.line, `case ${i}`).toBeLessThanOrEqual(lines);
          last = ex.line;
          for (const m of ex.messages) {
            expect(ROLES.has(m.role), `case ${i}: role ${m.role}`).toBe(true);
            expect(typeof m.content === 'string' && m.content.length > 0, `case ${i}`).toBe(true);
          }
        }
      } catch (e) {
        if (!(e instanceof DatasetError)) throw new Error(`case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
        outcomes.errors++;
        expect(e.fileName).toBe(name);
        expect(e.problems.length, `case ${i}`).toBeGreaterThan(0);
        for (const p of e.problems) {
          expect(p.line, `case ${i}: ${p.message}`).toBeGreaterThanOrEqual(0);
          expect(p.line, `case ${i}: ${p.message}`).toBeLessThanOrEqual(lines);
          expect(p.message.length, `case ${i}`).toBeGreaterThan(5);
        }
        expect(e.message.startsWith(name), `case ${i}: ${e.message}`).toBe(true);
      }
      slowest = Math.max(slowest, performance.now() - t);
    }
    console.log(`fuzz-dataset: ${CASES} files; ${outcomes.examples} read, ${outcomes.errors} refused with a DatasetError; slowest case ${slowest.toFixed(1)} ms`);
    expect(outcomes.examples).toBeGreaterThan(CASES / 20);
    expect(outcomes.errors).toBeGreaterThan(CASES / 10);
    expect(slowest).toBeLessThan(200);
  });
});
