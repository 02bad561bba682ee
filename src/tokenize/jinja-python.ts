// Where @huggingface/jinja renders differently from Python's jinja2 (which transformers'
// apply_chat_template runs), put right for the chat templates of the model families used here.
//
// The library implements str.strip(), lstrip() and rstrip() and the `trim` filter with
// JavaScript's trim(): it ignores the chars argument (Qwen3's template calls
// content.lstrip('\n') and reasoning.strip('\n'), so a reply that starts with a space lost it)
// and strips a slightly different whitespace set (see python-str.ts). The library offers no way
// to register methods or filters, but a Template's parsed program is public: after parsing, each
//   <expr>.strip(args) / .lstrip(args) / .rstrip(args)     and     <expr> | trim[(args)]
// is rewritten into a call of a function passed to render() with the template's variables,
//   __webgpu_lora_py_strip(<expr>, args)                          __webgpu_lora_py_trim(<expr>, args)
// which computes what Python computes (and raises where Python raises).
import { parse, tokenize, type Template } from '@huggingface/jinja';
import { pythonStrip, type StripSide } from './python-str.js';

/** An AST node of the library: every one has a string `type`; the other fields depend on it. */
interface Node {
  type: string;
  [field: string]: unknown;
}

const METHOD_HELPERS: Record<string, { name: string; side: StripSide }> = {
  strip: { name: '__webgpu_lora_py_strip', side: 'both' },
  lstrip: { name: '__webgpu_lora_py_lstrip', side: 'left' },
  rstrip: { name: '__webgpu_lora_py_rstrip', side: 'right' },
};
const TRIM_HELPER = '__webgpu_lora_py_trim';

/** Python's name for the type of a template value as the library hands it to a function. */
function pythonType(v: unknown): string {
  if (v === null) return 'NoneType';
  if (v === undefined) return 'Undefined';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/** The string method `method` called on `self` with `args`, exactly as Python's str would run it. */
function strMethod(method: string, side: StripSide, self: unknown, args: unknown[]): string {
  if (typeof self !== 'string') throw new Error(`'${pythonType(self)} object' has no attribute '${method}'`);
  if (args.some((a) => a instanceof Map)) throw new Error(`str.${method}() takes no keyword arguments`);
  if (args.length > 1) throw new Error(`${method} expected at most 1 argument, got ${args.length}`);
  const chars = args[0] ?? null;
  if (chars !== null && typeof chars !== 'string') throw new Error(`${method} arg must be None or str`);
  return pythonStrip(self, chars, side);
}

/** jinja2's trim filter: do_trim(value, chars=None) = str(value).strip(chars). */
function trimFilter(value: unknown, args: unknown[]): string {
  let chars: unknown = null;
  const positional = args.filter((a) => !(a instanceof Map));
  const keywords = args.find((a): a is Map<string, { value: unknown }> => a instanceof Map);
  if (positional.length > 1) throw new Error(`do_trim() takes from 1 to 2 positional arguments but ${positional.length + 1} were given`);
  if (positional.length === 1) chars = positional[0];
  if (keywords) {
    for (const key of keywords.keys()) if (key !== 'chars') throw new Error(`do_trim() got an unexpected keyword argument '${key}'`);
    if (keywords.has('chars')) {
      if (positional.length === 1) throw new Error("do_trim() got multiple values for argument 'chars'");
      chars = keywords.get('chars')!.value;
    }
  }
  if (chars !== null && chars !== undefined && typeof chars !== 'string') throw new Error('strip arg must be None or str');
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value === undefined || value === null) text = '';
  else if (typeof value === 'boolean') text = value ? 'True' : 'False';
  else if (typeof value === 'number') text = String(value);
  else throw new Error(`the trim filter of a ${pythonType(value)} is not supported here`);
  return pythonStrip(text, (chars as string | null | undefined) ?? null, 'both');
}

/**
 * The functions the rewritten template calls, to be passed to render() with its variables. The
 * library passes each argument's plain value (keyword arguments as one Map, last), and none and
 * an undefined name both as undefined: so `x.strip(none)` and `x.strip(undefined_name)` both
 * strip whitespace (Python raises for the second), and `none | trim` is '' (jinja2: 'None').
 * Chat templates meet neither: they strip message texts, which are strings.
 */
export const PYTHON_STRING_FUNCTIONS: Record<string, (...args: unknown[]) => string> = {
  ...Object.fromEntries(
    Object.entries(METHOD_HELPERS).map(([method, { name, side }]) => [name, (self: unknown, ...args: unknown[]) => strMethod(method, side, self, args)]),
  ),
  [TRIM_HELPER]: (value: unknown, ...args: unknown[]) => trimFilter(value, args),
};

interface NodeClasses {
  Call: new (callee: Node, args: Node[]) => Node;
  Identifier: new (value: string) => Node;
}
let classes: NodeClasses | undefined;

/** The library's CallExpression and Identifier classes, taken from a parsed `{{ f(x) }}` (they are not exported). */
function nodeClasses(): NodeClasses {
  if (!classes) {
    const call = parse(tokenize('{{ f(x) }}')).body[0] as unknown as Node;
    if (call.type !== 'CallExpression' || (call.callee as Node)?.type !== 'Identifier') {
      throw new Error('@huggingface/jinja parses {{ f(x) }} in a way this project does not know; its chat-template fixes need updating');
    }
    classes = { Call: call.constructor as NodeClasses['Call'], Identifier: (call.callee as Node).constructor as NodeClasses['Identifier'] };
  }
  return classes;
}

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && typeof (v as Node).type === 'string';

/** One node, its children already rewritten: the helper call that replaces it, or itself. */
function rewriteNode(node: Node): Node {
  const { Call, Identifier } = nodeClasses();
  if (node.type === 'CallExpression') {
    const callee = node.callee as Node;
    const property = callee.property as Node | undefined;
    if (callee.type === 'MemberExpression' && callee.computed === false && property?.type === 'Identifier') {
      const helper = Object.hasOwn(METHOD_HELPERS, property.value as string) ? METHOD_HELPERS[property.value as string] : undefined;
      if (helper) return new Call(new Identifier(helper.name), [callee.object as Node, ...(node.args as Node[])]);
    }
  } else if (node.type === 'FilterExpression') {
    const filter = node.filter as Node;
    if (filter.type === 'Identifier' && filter.value === 'trim') return new Call(new Identifier(TRIM_HELPER), [node.operand as Node]);
    const callee = filter.callee as Node | undefined;
    if (filter.type === 'CallExpression' && callee?.type === 'Identifier' && callee.value === 'trim') {
      return new Call(new Identifier(TRIM_HELPER), [node.operand as Node, ...(filter.args as Node[])]);
    }
  }
  return node;
}

/** Rewrites a value of the tree (a node, a list of nodes, an object literal's Map) bottom-up, in place. */
function rewrite(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let k = 0; k < value.length; k++) value[k] = rewrite(value[k]);
    return value;
  }
  if (value instanceof Map) {
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(rewrite(k), rewrite(v));
    return value;
  }
  if (!isNode(value)) return value;
  for (const key of Object.keys(value)) value[key] = rewrite(value[key]);
  return rewriteNode(value);
}

/** Makes a freshly parsed template's string stripping Python's; render it with PYTHON_STRING_FUNCTIONS among its variables. */
export function usePythonStringSemantics(template: Template): Template {
  rewrite(template.parsed);
  return template;
}
