// A Modelfile reader written from Ollama's documentation (docs/modelfile.mdx): lines of
// `INSTRUCTION arguments`, instructions in any case, `#` comments on lines of their own, FROM
// required. A value runs to the end of its line; one that starts with """ (or ") runs on across
// lines to the first line end where it closes with the same quotes (Ollama's parser reads quotes
// that way: there are no escapes, and quotes close only at a line end). PARAMETER takes the
// documented parameter names with their value types (int, float, string); MESSAGE takes a role of
// system, user or assistant. It is stricter than Ollama where Ollama would accept something a
// generated file should never hold: a repeated TEMPLATE, SYSTEM, ADAPTER or FROM, an
// unprintable character (Ollama drops it silently), a quoted value left open.

export interface ParsedModelfile {
  from: string;
  adapter: string | null;
  template: string | null;
  system: string | null;
  license: string | null;
  requires: string | null;
  /** Each parameter's values in order (only stop may repeat). */
  parameters: Record<string, (string | number)[]>;
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
}

const PARAMETERS: Record<string, 'int' | 'float' | 'string'> = {
  num_ctx: 'int',
  repeat_last_n: 'int',
  repeat_penalty: 'float',
  temperature: 'float',
  seed: 'int',
  stop: 'string',
  num_predict: 'int',
  draft_num_predict: 'int',
  top_k: 'int',
  top_p: 'float',
  min_p: 'float',
};

const INSTRUCTIONS = ['from', 'parameter', 'template', 'system', 'adapter', 'license', 'message', 'requires'];

/** The text of a value that starts at `lines[i]` (after the instruction), and the index of its last line. */
function readValue(lines: string[], i: number, start: string, lineNo: (i: number) => number): { value: string; last: number } {
  const quote = start.startsWith('"""') ? '"""' : start.startsWith('"') ? '"' : null;
  if (!quote) return { value: start.trim(), last: i };
  let text = start;
  for (let j = i; ; j++) {
    const sofar = text.trimEnd();
    if (sofar.length >= 2 * quote.length && sofar.endsWith(quote)) return { value: sofar.slice(quote.length, -quote.length), last: j };
    if (j + 1 >= lines.length) throw new Error(`line ${lineNo(i)}: the ${quote} quote opened here is never closed`);
    text += '\n' + lines[j + 1];
  }
}

/** The instructions of a Modelfile; an Error naming the line for anything the syntax does not allow. */
export function parseModelfile(source: string): ParsedModelfile {
  const bad = /[^\p{L}\p{M}\p{N}\p{P}\p{S} \t\n]/u.exec(source);
  if (bad) throw new Error(`a character Ollama's parser would drop: U+${bad[0].codePointAt(0)!.toString(16)}`);
  const lines = source.split('\n');
  const lineNo = (i: number): number => i + 1;
  const out: ParsedModelfile = { from: '', adapter: null, template: null, system: null, license: null, requires: null, parameters: {}, messages: [] };
  const once = (i: number, key: 'from' | 'adapter' | 'template' | 'system' | 'license' | 'requires', value: string): void => {
    if (out[key]) throw new Error(`line ${lineNo(i)}: a second ${key.toUpperCase()}`);
    out[key] = value;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z]+)([ \t]+|$)/.exec(line);
    if (!m) throw new Error(`line ${lineNo(i)}: expected an instruction, found ${JSON.stringify(line)}`);
    const name = m[1].toLowerCase();
    if (!INSTRUCTIONS.includes(name)) throw new Error(`line ${lineNo(i)}: unknown instruction ${m[1]}`);
    let rest = line.slice(m[0].length);
    let key: string | null = null;
    if (name === 'parameter' || name === 'message') {
      const k = /^([A-Za-z0-9_]+)[ \t]+/.exec(rest);
      if (!k) throw new Error(`line ${lineNo(i)}: ${name.toUpperCase()} needs a ${name === 'parameter' ? 'name' : 'role'} and a value`);
      key = k[1];
      rest = rest.slice(k[0].length);
    }
    if (rest.trim() === '') throw new Error(`line ${lineNo(i)}: ${m[1]} has no value`);
    const { value, last } = readValue(lines, i, rest, lineNo);
    if (name === 'parameter') {
      const type = PARAMETERS[key!];
      if (!type) throw new Error(`line ${lineNo(i)}: unknown parameter ${key}`);
      let v: string | number = value;
      if (type === 'int') {
        if (!/^-?\d+$/.test(value)) throw new Error(`line ${lineNo(i)}: ${key} takes an int, not ${JSON.stringify(value)}`);
        v = Number(value);
      } else if (type === 'float') {
        if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value)) throw new Error(`line ${lineNo(i)}: ${key} takes a float, not ${JSON.stringify(value)}`);
        v = Number(value);
      }
      if (key !== 'stop' && out.parameters[key!]) throw new Error(`line ${lineNo(i)}: a second ${key}`);
      (out.parameters[key!] ??= []).push(v);
    } else if (name === 'message') {
      if (key !== 'system' && key !== 'user' && key !== 'assistant') throw new Error(`line ${lineNo(i)}: message role ${key} is not system, user or assistant`);
      out.messages.push({ role: key, content: value });
    } else once(i, name === 'from' ? 'from' : (name as 'adapter' | 'template' | 'system' | 'license' | 'requires'), value);
    i = last;
  }
  if (!out.from) throw new Error('no FROM instruction');
  return out;
}
