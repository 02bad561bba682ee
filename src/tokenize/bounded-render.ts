// Rendering a chat template within bounds (used by ./chat-template.ts). A template is a program
// from the model's folder, and @huggingface/jinja renders with no limits: {% for i in
// range(10**9) %} builds a list of 10⁹ numbers (the process dies), a macro that calls itself overflows the stack, a string doubled in a
// loop or s.replace('', s) allocates gigabytes. Its Interpreter is exported and every expression
// and statement goes through its public evaluate(), so a subclass counts and checks there:
// steps (one per evaluation, plus one per item a for loop walks over, so that empty loop bodies
// count too), nesting depth, wall-clock time, and the size of every value made (strings,
// lists, dicts). range() is replaced by one that refuses a range longer than the item limit
// before making it, and replace() and the replace, indent, join, tojson and string filters (which
// can multiply a string's length in one step) are checked before they run, from the values of
// their subject and arguments, which went through evaluate() just before.
import { Environment, Interpreter, type Template } from '@huggingface/jinja';
import type { ChatMessage } from './chat-template.js';

/** The bounds of one render; each grows with the conversation, so that real templates never meet them. */
export interface RenderLimits {
  /** Evaluations (real templates take 20 to 50 per message), plus the items for loops walk over. */
  steps: number;
  /** Characters of any string made, the output included. */
  chars: number;
  /** Items of any list, tuple, dict or range() made. */
  items: number;
  /** Nested evaluations (real templates: under 20; a macro calling itself: without end). */
  depth: number;
  /** Wall-clock milliseconds. */
  ms: number;
}

export function renderLimits(messages: ChatMessage[], specialTokens: Record<string, string>): RenderLimits {
  let chars = 0;
  for (const m of messages) chars += m.content.length + m.role.length;
  for (const t of Object.values(specialTokens)) chars += t.length;
  return { steps: 2 ** 17 + 512 * messages.length + chars, chars: 2 ** 20 + 8 * chars, items: 2 ** 16 + 4 * messages.length + chars, depth: 256, ms: 5000 + messages.length };
}

/** A limit of RenderLimits met (its message says which); renderChatTemplate names the template. */
export class RenderLimitError extends Error {}
/** The template's own raise_exception(message). */
export class TemplateRaised extends Error {}

type Statement = Parameters<Interpreter['evaluate']>[0];
type Value = ReturnType<Interpreter['evaluate']>;
interface Node {
  type: string;
  [field: string]: unknown;
}
/** The filters (and the method replace()) that can make a value many times larger than their inputs in one step. */
const GUARDED_FILTERS = ['replace', 'indent', 'join', 'tojson', 'string'] as const;
/** One such call: the nodes of its subject and arguments, and the node evaluated last before it runs. */
interface Guard {
  kind: (typeof GUARDED_FILTERS)[number];
  subject: Node;
  positional: Node[];
  keyword: Map<string, Node>;
  trigger: Node;
}
interface CompiledInfo {
  where: string;
  /** The iterables of for loops (their items are counted as steps). */
  iterables: WeakSet<object>;
  /** The statements of blocks, whose values the library writes out as text (a list as its repr). */
  outputs: WeakSet<object>;
  /** Guards by the nodes whose values they read, and by their trigger node. */
  watched: WeakMap<object, Guard[]>;
  triggers: WeakMap<object, Guard>;
}
const COMPILED = new WeakMap<Template, CompiledInfo>();

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && typeof (v as Node).type === 'string';

/** Every node of the parsed template, each once. */
function visit(v: unknown, f: (n: Node) => void): void {
  if (Array.isArray(v)) for (const x of v) visit(x, f);
  else if (v instanceof Map) for (const [k, x] of v) (visit(k, f), visit(x, f));
  else if (isNode(v)) {
    f(v);
    for (const key of Object.keys(v)) visit(v[key], f);
  }
}

/** The for-loop iterables and the guards of a parsed template. */
function watchedNodes(template: Template): Omit<CompiledInfo, 'where'> {
  const iterables = new WeakSet<object>();
  const outputs = new WeakSet<object>();
  const watched = new WeakMap<object, Guard[]>();
  const triggers = new WeakMap<object, Guard>();
  const guard = (kind: Guard['kind'], subject: Node, args: Node[], trigger: Node | null) => {
    // Arguments evaluate positional first, then keyword values (a spread: left unchecked).
    if (args.some((a) => a.type === 'SpreadExpression' || a.type === 'KeywordSpreadExpression')) return;
    const positional = args.filter((a) => a.type !== 'KeywordArgumentExpression');
    const keyword = new Map(args.filter((a) => a.type === 'KeywordArgumentExpression').map((a) => [(a.key as Node).value as string, a.value as Node]));
    const g: Guard = { kind, subject, positional, keyword, trigger: trigger ?? [...keyword.values()].at(-1) ?? positional.at(-1) ?? subject };
    for (const n of [subject, ...positional, ...keyword.values()]) watched.set(n, [...(watched.get(n) ?? []), g]);
    triggers.set(g.trigger, g);
  };
  visit(template.parsed, (n) => {
    for (const block of [n.body, n.alternate, n.defaultBlock]) if (Array.isArray(block)) for (const statement of block) outputs.add(statement);
    if (n.type === 'For') {
      const it = n.iterable as Node;
      iterables.add(it.type === 'SelectExpression' ? (it.lhs as Node) : it);
    } else if (n.type === 'CallExpression') {
      // s.replace(old, new[, count]): the library evaluates the arguments, then the callee (s's member), then calls.
      const callee = n.callee as Node;
      const property = callee.property as Node | undefined;
      if (callee.type === 'MemberExpression' && callee.computed === false && property?.type === 'Identifier' && property.value === 'replace') {
        guard('replace', callee.object as Node, n.args as Node[], callee);
      }
    } else if (n.type === 'FilterExpression') {
      // s | replace(old, new), s | indent(width), ...: the operand, then the arguments, then the filter runs.
      const filter = n.filter as Node;
      const name = (filter.type === 'CallExpression' ? (filter.callee as Node).value : filter.value) as Guard['kind'];
      if (GUARDED_FILTERS.includes(name)) guard(name, n.operand as Node, filter.type === 'CallExpression' ? (filter.args as Node[]) : [], null);
    }
  });
  return { iterables, outputs, watched, triggers };
}

class BoundedInterpreter extends Interpreter {
  private steps = 0;
  private depth = 0;
  private readonly deadline: number;
  /** The latest value of each watched node. */
  private readonly seen = new Map<object, Value>();

  constructor(env: Environment, readonly limits: RenderLimits, private readonly info: CompiledInfo) {
    super(env);
    this.deadline = performance.now() + limits.ms;
  }

  /** Counts `n` steps; every 256th step (and every for loop) also looks at the clock. */
  charge(n: number): void {
    const before = this.steps;
    this.steps += n;
    if (this.steps > this.limits.steps) throw new RenderLimitError(`it took more than ${this.limits.steps} evaluation steps`);
    if ((before >>> 8 !== this.steps >>> 8 || n > 1) && performance.now() > this.deadline) {
      throw new RenderLimitError(`it ran for more than ${this.limits.ms / 1000} s`);
    }
  }

  override evaluate(statement: Statement, environment: Environment): Value {
    this.charge(1);
    if (this.depth >= this.limits.depth) throw new RenderLimitError(`its evaluation nested more than ${this.limits.depth} deep (a macro that calls itself without end?)`);
    this.depth++;
    let value: Value;
    try {
      value = super.evaluate(statement, environment);
    } finally {
      this.depth--;
    }
    return statement ? checked(this, value, statement) : value;
  }

  /** Records a watched node's value and runs the guard it triggers. */
  watch(node: object, value: Value): void {
    if (this.info.watched.has(node)) this.seen.set(node, value);
    const g = this.info.triggers.get(node);
    if (g) checkGuard(this, g, (n) => this.seen.get(n));
  }

  iterable(node: object): boolean {
    return this.info.iterables.has(node);
  }

  output(node: object): boolean {
    return this.info.outputs.has(node);
  }
}

/** Throws unless `value`, just made by `node`, is within the limits; counts the items of a for loop's iterable. */
function checked(it: BoundedInterpreter, value: Value, node: object): Value {
  const { chars, items } = it.limits;
  const v = value.value as unknown;
  if (typeof v === 'string' && v.length > chars) throw new RenderLimitError(`it made a string of ${v.length} characters, more than ${chars}`);
  const size = Array.isArray(v) ? v.length : v instanceof Map ? v.size : -1;
  if (size > items) throw new RenderLimitError(`it made a ${value.type === 'ArrayValue' ? 'list' : 'value'} of ${size} items, more than ${items}`);
  if (size > 0 && it.iterable(node)) it.charge(size);
  if (size > 0 && it.output(node) && jsonLength(value, 0, 2, it.limits) > chars) throw new RenderLimitError(`it writes out a ${value.type === 'ArrayValue' ? 'list' : 'value'} of more than ${chars} characters`);
  it.watch(node, value);
  return value;
}

/**
 * Throws when a guarded call would make a string longer than the limit, reckoned from the values
 * of its subject and arguments before it runs (the library then runs it as usual).
 */
function checkGuard(it: BoundedInterpreter, g: Guard, valueOf: (n: Node) => Value | undefined): void {
  const arg = (k: number, name: string) => {
    const n = g.positional[k] ?? g.keyword.get(name);
    return n ? valueOf(n)?.value : undefined;
  };
  const subject = valueOf(g.subject);
  const s = subject?.value;
  let length = 0;
  if (g.kind === 'replace' && typeof s === 'string') {
    const [from, to, count] = [arg(0, 'old'), arg(1, 'new'), arg(2, 'count')];
    if (typeof from !== 'string' || typeof to !== 'string') return; // the library raises its own error
    // Python's rule: '' matches before every code point and at the end; others without overlapping.
    let matches = 0;
    if (from === '') matches = s.length + 1; // an upper bound: code points ≤ UTF-16 units
    else for (let at = s.indexOf(from); at >= 0; at = s.indexOf(from, at + from.length)) matches++;
    if (typeof count === 'number' && count >= 0) matches = Math.min(matches, count);
    length = s.length + matches * (to.length - from.length);
  } else if (g.kind === 'indent' && typeof s === 'string') {
    const width = arg(0, 'width');
    if (typeof width === 'number') length = s.length + s.split('\n').length * Math.max(0, width);
  } else if (g.kind === 'join' && (typeof s === 'string' || Array.isArray(s))) {
    const separator = arg(0, 'separator');
    const parts = typeof s === 'string' ? s.length : (s as Value[]).reduce((n, x) => n + (typeof x.value === 'string' ? x.value.length : 1), 0);
    length = parts + Math.max(0, (s as string | Value[]).length - 1) * (typeof separator === 'string' ? separator.length : 0);
  } else if ((g.kind === 'tojson' || g.kind === 'string') && subject) {
    const indent = g.kind === 'tojson' ? arg(-1, 'indent') : undefined;
    const separators = g.kind === 'tojson' ? arg(-1, 'separators') : undefined;
    const sep = Array.isArray(separators) ? separators.reduce((n: number, x: Value) => n + String(x.value).length, 0) : 3;
    length = jsonLength(subject, typeof indent === 'number' ? Math.max(0, indent) : 0, sep, it.limits);
  }
  if (length > it.limits.chars) throw new RenderLimitError(`the ${g.kind} ${g.kind === 'replace' ? 'call' : 'filter'} would make a string of ${length} or more characters, more than ${it.limits.chars}`);
}

/** A lower bound of the length of `value` as JSON with this indent and separators' length; stops once past the limit. */
function jsonLength(value: Value, indent: number, sep: number, limits: RenderLimits): number {
  let total = 0;
  const walk = (v: Value, depth: number): void => {
    if (total > limits.chars) return;
    if (depth > limits.depth) throw new RenderLimitError(`it nested a value more than ${limits.depth} deep`);
    const x = v.value as unknown;
    if (typeof x === 'string') total += x.length + 2;
    else if (Array.isArray(x) || x instanceof Map) {
      total += 2;
      for (const [key, item] of x instanceof Map ? x : x.entries()) {
        total += sep + depth * indent + (typeof key === 'string' ? key.length + 2 : 0);
        walk(item as Value, depth + 1);
      }
    } else total += 1;
  };
  walk(value, 1);
  return total;
}

/**
 * The globals the library's Template.render declares (its setupGlobals, not exported), with a
 * range() that refuses to make more than the item limit and a raise_exception whose error
 * renderChatTemplate can tell from the engine's.
 */
function setupGlobals(env: Environment, it: BoundedInterpreter): void {
  const constants: Array<[string, unknown]> = [['false', false], ['true', true], ['none', null], ['True', true], ['False', false], ['None', null]];
  for (const [name, value] of constants) env.set(name, value);
  env.set('raise_exception', (message: unknown) => {
    throw new TemplateRaised(message === undefined ? '' : String(message));
  });
  env.set('range', (...args: unknown[]) => {
    // Python's range takes integers; the library's loops over anything, and may not end.
    if (args.length < 1 || args.length > 3 || !args.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new Error('range() takes one to three numbers');
    const [start, stop, step] = args.length === 1 ? [0, args[0] as number, 1] : [args[0] as number, args[1] as number, (args[2] as number | undefined) ?? 1];
    if (step === 0) throw new Error('range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (!(n <= it.limits.items)) throw new RenderLimitError(`range(${start}, ${stop}, ${step}) would make ${n} items, more than ${it.limits.items}`);
    it.charge(n);
    return Array.from({ length: n }, (_, k) => start + k * step);
  });
  env.set('strftime_now', (format: string) => strftime(new Date(), format));
}

/** The library's strftime: %Y %m %d %b %B %H %M %% in the default locale. */
function strftime(date: Date, format: string): string {
  const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
  return format.replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case '%Y': return String(date.getFullYear());
      case '%m': return pad2(date.getMonth() + 1);
      case '%d': return pad2(date.getDate());
      case '%b': return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(date);
      case '%B': return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(date);
      case '%H': return pad2(date.getHours());
      case '%M': return pad2(date.getMinutes());
      default: return '%';
    }
  });
}

/** Records where `template` came from (for messages) and the nodes its render watches. */
export function registerTemplate(template: Template, where: string): void {
  COMPILED.set(template, { where, ...watchedNodes(template) });
}

function infoOf(template: Template): CompiledInfo {
  let info = COMPILED.get(template);
  if (!info) COMPILED.set(template, (info = { where: 'a chat template', ...watchedNodes(template) }));
  return info;
}

/** Where a registered template came from ('a chat template' for one compiled elsewhere). */
export const templateSource = (template: Template): string => infoOf(template).where;

/**
 * Template.render with `items` as its variables, by the bounded interpreter: throws
 * RenderLimitError when a limit is met and TemplateRaised for the template's raise_exception().
 */
export function renderBounded(template: Template, items: Record<string, unknown>, limits: RenderLimits): string {
  const env = new Environment();
  const interpreter = new BoundedInterpreter(env, limits, infoOf(template));
  setupGlobals(env, interpreter);
  for (const [key, value] of Object.entries(items)) env.set(key, value);
  return interpreter.run(template.parsed).value as string;
}
