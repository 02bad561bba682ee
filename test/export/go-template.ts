// A small evaluator of Go's text/template, for the subset the Ollama templates of
// src/export/ollama-template.ts use, written from the text/template documentation: text and
// {{ actions }} with {{- and -}} trimming the whitespace beside them; if / else if / else / end;
// range over a list with `$i, $x :=`; variables declared with := and assigned with = (a
// variable lives until the end of the block that declared it; = sets it where it was declared);
// fields (.Role, $.Messages, (expr).Content); string and integer constants; parentheses; and
// the functions and, or, not, eq, ne, len, index, slice; {{/* comments */}}. Anything else is an error, so a
// template that leaves this subset fails the test instead of rendering something else.

type Value = unknown;

type Expr =
  | { k: 'const'; v: string | number | boolean }
  | { k: 'dot'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'call'; fn: string; args: Expr[] }
  | { k: 'paren'; e: Expr; path: string[] };

type Node =
  | { k: 'text'; s: string }
  | { k: 'out'; e: Expr }
  | { k: 'decl'; name: string; e: Expr; assign: boolean }
  | { k: 'if'; e: Expr; then: Node[]; else: Node[] }
  | { k: 'range'; vars: string[]; e: Expr; body: Node[] };

const FUNCTIONS = new Set(['and', 'or', 'not', 'eq', 'ne', 'len', 'index', 'slice']);

/** The pieces of a template: text, and the inside of each action with its trim markers applied. */
function split(src: string): ({ text: string } | { action: string })[] {
  const out: ({ text: string } | { action: string })[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open < 0) {
      if (text) out.push({ text });
      break;
    }
    let j = open + 2;
    if (src[j] === '-' && /[ \t\r\n]/.test(src[j + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      j += 1;
    }
    if (text) out.push({ text });
    const comment = /^( ?)\/\*[\s\S]*?\*\/( -)?\}\}/.exec(src.slice(j));
    if (comment && (comment[1] === '') === (j === open + 2)) {
      trimNext = comment[2] !== undefined;
      i = j + comment[0].length;
      continue;
    }
    let k = j;
    let inString = false;
    for (; k < src.length; k++) {
      if (inString) {
        if (src[k] === '\\') k++;
        else if (src[k] === '"') inString = false;
      } else if (src[k] === '"') inString = true;
      else if (src.startsWith('}}', k)) break;
    }
    if (k >= src.length) throw new Error(`go-template: unclosed action at ${open}`);
    let inner = src.slice(j, k);
    trimNext = false;
    if (/[ \t\r\n]-$/.test(inner)) {
      inner = inner.slice(0, -1);
      trimNext = true;
    }
    out.push({ action: inner });
    i = k + 2;
  }
  return out;
}

/** The tokens of one action. */
function tokens(action: string): string[] {
  const re = /\s+|"(?:[^"\\]|\\.)*"|:=|=|\(|\)|,|-?\d+|\$[A-Za-z0-9_]*(?:\.[A-Za-z_]\w*)*|(?:\.[A-Za-z_]\w*)+|\.|[A-Za-z_]\w*/y;
  const out: string[] = [];
  let at = 0;
  while (at < action.length) {
    re.lastIndex = at;
    const m = re.exec(action);
    if (!m) throw new Error(`go-template: cannot read ${JSON.stringify(action.slice(at))}`);
    if (m[0].trim()) out.push(m[0]);
    at = re.lastIndex;
  }
  return out;
}

function unquote(tok: string): string {
  return tok.slice(1, -1).replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e: string) => {
    if (e[0] === 'u' || e[0] === 'U') return String.fromCodePoint(parseInt(e.slice(1), 16));
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };
    if (!(e in simple)) throw new Error(`go-template: unknown escape \\${e}`);
    return simple[e];
  });
}

/** An expression (a command: operands, the first of which may be a function) from tokens[at...]. */
function parseCommand(toks: string[], at: { i: number }, stop: string | null): Expr {
  const operands: Expr[] = [];
  while (at.i < toks.length && toks[at.i] !== stop) operands.push(parseOperand(toks, at));
  if (operands.length === 0) throw new Error('go-template: empty command');
  const [head, ...rest] = operands;
  if (head.k === 'call' && head.args.length === 0) return { k: 'call', fn: head.fn, args: rest };
  if (rest.length) throw new Error('go-template: arguments given to something that is not a function');
  return head;
}

function parseOperand(toks: string[], at: { i: number }): Expr {
  const t = toks[at.i++];
  const fields = (): string[] => {
    const path: string[] = [];
    while (at.i < toks.length && /^(\.[A-Za-z_]\w*)+$/.test(toks[at.i])) path.push(...toks[at.i++].slice(1).split('.'));
    return path;
  };
  if (t === '(') {
    const e = parseCommand(toks, at, ')');
    if (toks[at.i++] !== ')') throw new Error('go-template: unclosed (');
    return { k: 'paren', e, path: fields() };
  }
  if (t.startsWith('"')) return { k: 'const', v: unquote(t) };
  if (/^-?\d+$/.test(t)) return { k: 'const', v: Number(t) };
  if (t === 'true' || t === 'false') return { k: 'const', v: t === 'true' };
  if (t === '.') return { k: 'dot', path: [] };
  if (t.startsWith('.')) return { k: 'dot', path: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [name, ...path] = t.split('.');
    return { k: 'var', name, path };
  }
  if (FUNCTIONS.has(t)) return { k: 'call', fn: t, args: [] };
  throw new Error(`go-template: unknown function or token ${JSON.stringify(t)}`);
}

/** The template parsed into nodes; an unbalanced block or a stray else/end is an error. */
export function parseGoTemplate(src: string): Node[] {
  const pieces = split(src);
  let p = 0;
  const block = (ends: string[]): { nodes: Node[]; end: string[] } => {
    const nodes: Node[] = [];
    while (p < pieces.length) {
      const piece = pieces[p++];
      if ('text' in piece) {
        nodes.push({ k: 'text', s: piece.text });
        continue;
      }
      const toks = tokens(piece.action);
      if (toks.length === 0) throw new Error('go-template: empty action');
      const kw = toks[0];
      if (kw === 'end' || kw === 'else') {
        if (!ends.includes(kw)) throw new Error(`go-template: unexpected {{ ${kw} }}`);
        return { nodes, end: toks };
      }
      if (kw === 'if') nodes.push(parseIf(toks.slice(1)));
      else if (kw === 'range') nodes.push(parseRange(toks.slice(1)));
      else if (kw.startsWith('$') && (toks[1] === ':=' || toks[1] === '=')) {
        nodes.push({ k: 'decl', name: kw, assign: toks[1] === '=', e: whole(toks.slice(2)) });
      } else nodes.push({ k: 'out', e: whole(toks) });
    }
    if (ends.length) throw new Error('go-template: a block is not closed with {{ end }}');
    return { nodes, end: [] };
  };
  const whole = (toks: string[]): Expr => {
    const at = { i: 0 };
    const e = parseCommand(toks, at, null);
    if (at.i !== toks.length) throw new Error(`go-template: trailing tokens ${toks.slice(at.i).join(' ')}`);
    return e;
  };
  const parseIf = (cond: string[]): Node => {
    const then = block(['else', 'end']);
    let otherwise: Node[] = [];
    if (then.end[0] === 'else') {
      if (then.end[1] === 'if') otherwise = [parseIf(then.end.slice(2))];
      else {
        if (then.end.length > 1) throw new Error('go-template: {{ else }} takes nothing after it but if');
        const rest = block(['end']);
        otherwise = rest.nodes;
      }
    }
    return { k: 'if', e: whole(cond), then: then.nodes, else: otherwise };
  };
  const parseRange = (toks: string[]): Node => {
    let vars: string[] = [];
    const decl = toks.indexOf(':=');
    if (decl >= 0) {
      vars = toks.slice(0, decl).filter((t) => t !== ',');
      if (vars.length < 1 || vars.length > 2 || !vars.every((v) => /^\$\w+$/.test(v))) throw new Error('go-template: bad range variables');
    }
    const body = block(['end']);
    return { k: 'range', vars, e: whole(toks.slice(decl + 1)), body: body.nodes };
  };
  const { nodes } = block([]);
  return nodes;
}

/** Go's truth: false, 0, "", nil and empty lists are false. */
function truth(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

function field(v: Value, path: string[]): Value {
  for (const name of path) {
    if (v === null || typeof v !== 'object' || !(name in (v as object))) throw new Error(`go-template: no field ${name}`);
    v = (v as Record<string, Value>)[name];
  }
  return v;
}

function basic(v: Value): string | number | boolean {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  throw new Error('go-template: eq/ne compare only strings, numbers and booleans');
}

/** The text of `src` run on `data` (the value of both . and $ at the top). */
export function executeGoTemplate(src: string, data: Record<string, Value>): string {
  const nodes = parseGoTemplate(src);
  const scopes: Map<string, Value>[] = [new Map([['$', data]])];
  const lookup = (name: string): Map<string, Value> => {
    for (let s = scopes.length - 1; s >= 0; s--) if (scopes[s].has(name)) return scopes[s];
    throw new Error(`go-template: undefined variable ${name}`);
  };
  const evaluate = (e: Expr, dot: Value): Value => {
    switch (e.k) {
      case 'const':
        return e.v;
      case 'dot':
        return field(dot, e.path);
      case 'var':
        return field(lookup(e.name).get(e.name), e.path);
      case 'paren':
        return field(evaluate(e.e, dot), e.path);
      case 'call': {
        const arg = (i: number): Value => evaluate(e.args[i], dot);
        const n = e.args.length;
        if (e.fn === 'and' || e.fn === 'or') {
          if (n < 1) throw new Error(`go-template: ${e.fn} needs arguments`);
          let v: Value = undefined;
          for (let i = 0; i < n; i++) {
            v = arg(i);
            if (truth(v) === (e.fn === 'or')) return v;
          }
          return v;
        }
        if (e.fn === 'not') {
          if (n !== 1) throw new Error('go-template: not takes one argument');
          return !truth(arg(0));
        }
        if (e.fn === 'eq' || e.fn === 'ne') {
          if (n < 2 || (e.fn === 'ne' && n !== 2)) throw new Error(`go-template: wrong number of arguments to ${e.fn}`);
          const first = basic(arg(0));
          const same = e.args.slice(1).some((_, i) => {
            const other = basic(arg(i + 1));
            if (typeof other !== typeof first) throw new Error('go-template: incompatible types for comparison');
            return other === first;
          });
          return e.fn === 'eq' ? same : !same;
        }
        if (e.fn === 'len') {
          const v = arg(0);
          if (typeof v !== 'string' && !Array.isArray(v)) throw new Error('go-template: len of something without a length');
          return v.length;
        }
        const list = arg(0);
        if (!Array.isArray(list)) throw new Error(`go-template: ${e.fn} of something that is not a list`);
        const ints = e.args.slice(1).map((_, i) => arg(i + 1));
        if (!ints.every((x) => Number.isInteger(x) && (x as number) >= 0)) throw new Error(`go-template: ${e.fn} needs non-negative integers`);
        const [a, b] = ints as number[];
        if (e.fn === 'index') {
          if (ints.length !== 1 || a >= list.length) throw new Error(`go-template: index ${a} out of range of ${list.length}`);
          return list[a];
        }
        if (ints.length < 1 || ints.length > 2 || a > list.length || (b !== undefined && (b < a || b > list.length))) throw new Error('go-template: slice out of range');
        return list.slice(a, b);
      }
    }
  };
  const print = (v: Value): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new Error('go-template: printing something that is not a string, number or boolean');
  };
  const run = (list: Node[], dot: Value): string => {
    scopes.push(new Map());
    let out = '';
    for (const n of list) {
      if (n.k === 'text') out += n.s;
      else if (n.k === 'out') out += print(evaluate(n.e, dot));
      else if (n.k === 'decl') {
        const v = evaluate(n.e, dot);
        (n.assign ? lookup(n.name) : scopes[scopes.length - 1]).set(n.name, v);
      } else if (n.k === 'if') out += run(truth(evaluate(n.e, dot)) ? n.then : n.else, dot);
      else {
        const items = evaluate(n.e, dot);
        if (!Array.isArray(items)) throw new Error('go-template: range over something that is not a list');
        items.forEach((item, i) => {
          scopes.push(new Map());
          if (n.vars.length === 1) scopes[scopes.length - 1].set(n.vars[0], item);
          if (n.vars.length === 2) scopes[scopes.length - 1].set(n.vars[0], i).set(n.vars[1], item);
          out += run(n.body, item);
          scopes.pop();
        });
      }
    }
    scopes.pop();
    return out;
  };
  return run(nodes, data);
}
