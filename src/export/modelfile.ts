// The Ollama Modelfile written beside an exported GGUF model: FROM the GGUF (and ADAPTER for a
// LoRA adapter GGUF on top of its base), TEMPLATE rebuilt as a Go template from the model's Jinja
// chat template, PARAMETER stop for its end-of-turn and EOS strings. A pure function of what the
// export knows, so it runs in the browser as well as in Node.
//
// Ollama's parser (its docs/modelfile.md and parser/parser.go) reads one instruction per line;
// a value runs to the end of the line, or, when it starts with " or """, to the first line end
// where the text so far (right-trimmed) ends with the same quotes; there are no escapes, and it
// drops characters that are not printable other than tab and line breaks. Values are written so
// that they read back unchanged, and a value that cannot be (a line of a system message ending
// in """) is an error naming its field.
//
// A chat template whose turns turn-format.ts cannot follow gets no TEMPLATE, only a comment that
// says why: the GGUF and its weights are still right, and Ollama then picks a template itself from
// the GGUF's tokenizer.chat_template (or uses the bare prompt), which is better than failing the
// whole export or writing a template that is known to differ from the model's.
import { compileChatTemplate, renderChatTemplate } from '../tokenize/chat-template.js';
import { PLAIN_CHAT_TEMPLATE } from '../train/format.js';
import { chatGoTemplate, RAW_COMPLETION_TEMPLATE } from './ollama-template.js';
import { findTurnFormat, type TurnFormat } from './turn-format.js';

/** The PARAMETER names Ollama documents, with their value types (stop is set from `stop`). */
export const OLLAMA_PARAMETER_TYPES = {
  num_ctx: 'int',
  repeat_last_n: 'int',
  repeat_penalty: 'float',
  temperature: 'float',
  seed: 'int',
  num_predict: 'int',
  draft_num_predict: 'int',
  top_k: 'int',
  top_p: 'float',
  min_p: 'float',
} as const;

export type OllamaParameters = Partial<Record<keyof typeof OLLAMA_PARAMETER_TYPES, number>>;

export interface OllamaModelfileOptions {
  /** The GGUF file beside the Modelfile: the model, or with `adapterFileName` the base model. */
  ggufFileName: string;
  /** A LoRA adapter GGUF beside the Modelfile, applied to the model of `ggufFileName`. */
  adapterFileName?: string;
  /** The model's Jinja chat template; null for a model without one (webgpu-lora's plain template; raw completion without an EOS token). */
  chatTemplate: string | null;
  /** The text of the special tokens the template reads (bos_token, eos_token, ...): only those that are set. */
  specialTokens: Record<string, string>;
  /**
   * Whether the GGUF's tokenizer.ggml.add_bos_token is true, so that llama.cpp puts BOS before
   * every prompt itself (default true); when false, TEMPLATE writes the BOS the chat template writes.
   */
  addsBos?: boolean;
  /** More strings that end generation, e.g. the text of each of generation_config's eos_token_id. */
  stop?: string[];
  /** A default system message (SYSTEM). */
  system?: string;
  /** The license text (LICENSE). */
  license?: string;
  parameters?: OllamaParameters;
}

/** What a chat template becomes in Ollama. */
export type OllamaChat =
  | { kind: 'chat'; format: TurnFormat; template: string; stop: string[]; notes: string[] }
  | { kind: 'raw'; template: string; stop: string[]; notes: string[] }
  | { kind: 'unrecognised'; reason: string; stop: string[]; notes: string[] };

const unique = (xs: string[]): string[] => [...new Set(xs.filter((x) => x !== ''))];

/**
 * The Ollama counterpart of a chat template: the Go template and the stop strings (the end of an
 * assistant turn, the opening of a user turn, EOS), or why there is none.
 */
export function ollamaChat(chatTemplate: string | null, specialTokens: Record<string, string>, addsBos = true): OllamaChat {
  const eos = specialTokens.eos_token ?? '';
  if (chatTemplate === null && eos === '') {
    return { kind: 'raw', template: RAW_COMPLETION_TEMPLATE, stop: [], notes: ['The model has neither a chat template nor an EOS token: prompts go to it as they are.'] };
  }
  // Without a chat template, webgpu-lora trains and answers in its plain template (### Input: /
  // ### Output:), so that is the TEMPLATE a model tuned here needs.
  const plain = chatTemplate === null;
  const compiled = compileChatTemplate(chatTemplate ?? PLAIN_CHAT_TEMPLATE, plain ? "webgpu-lora's plain template" : 'the model being exported');
  const result = findTurnFormat((messages, gen) => renderChatTemplate(compiled, messages, gen, specialTokens), specialTokens.bos_token ?? null);
  if (!result.ok) {
    const reason = result.reason.length > 400 ? `${result.reason.slice(0, 400)}...` : result.reason;
    return { kind: 'unrecognised', reason, stop: unique([eos]), notes: [] };
  }
  const f = result.format;
  const notes = plain
    ? ["The model has no chat template: TEMPLATE is webgpu-lora's plain training template (### Input: / ### Output:), the format a model tuned with webgpu-lora answers in."]
    : [`TEMPLATE follows the model's chat template (${f.family === 'other' ? 'its own turn markers' : `${f.family} turns`}).`];
  if (f.bos && addsBos) notes.push(`The chat template starts with ${f.bos}; llama.cpp adds it itself when it tokenizes (tokenizer.ggml.add_bos_token), so TEMPLATE leaves it out.`);
  const written = f.bos && !addsBos ? { ...f, head: f.bos + f.head, systemBefore: f.bos + f.systemBefore, bos: null } : f;
  if (f.trimsContent) notes.push('The chat template strips spaces and line breaks around each message; a Go template cannot, so contents go in as they are.');
  if (!f.laterSystem) notes.push(plain ? 'System messages after the first message are left out, as in training.' : 'The chat template refuses system messages after the first message; TEMPLATE leaves them out.');
  return { kind: 'chat', format: f, template: chatGoTemplate(written), stop: unique([f.assistantClose.trim(), eos, f.userOpen.trim()]), notes };
}

/** Characters Ollama's parser keeps: printable ones (Go's strconv.IsPrint), tab and line breaks. */
const KEPT = /^[\p{L}\p{M}\p{N}\p{P}\p{S} \t\n\r]*$/u;

/**
 * A value for the Modelfile that Ollama reads back as `value`: "..." on one line, """...""" where
 * it spans lines or where "..." would itself start with three quotes. Throws, naming `field`, where no quoting can carry it.
 */
export function quoteValue(value: string, field: string): string {
  if (value === '') throw new Error(`ollamaModelfile: ${field} is empty`);
  if (!KEPT.test(value)) throw new Error(`ollamaModelfile: ${field} holds a character Ollama's Modelfile parser drops (not printable): ${JSON.stringify(value)}`);
  const single = `"${value}"`;
  if (!/[\r\n]/.test(value) && !single.startsWith('"""')) return single;
  return tripleQuoted(value, field);
}

/**
 * """value""", checked the way Ollama reads it: at each line break the text so far, with its
 * trailing whitespace trimmed, must not already be a complete """...""" value.
 */
function tripleQuoted(value: string, field: string): string {
  const quoted = `"""${value}"""`;
  for (let i = 3; i < quoted.length - 3; i++) {
    if (quoted[i] !== '\n' && quoted[i] !== '\r') continue;
    const sofar = quoted.slice(0, i).replace(/\s+$/u, '');
    if (sofar.length >= 6 && sofar.endsWith('"""')) {
      throw new Error(`ollamaModelfile: ${field} has a line ending in """, which would end its quotes early in a Modelfile`);
    }
  }
  return quoted;
}

/** A file name beside the Modelfile, as FROM/ADAPTER read it: ./name. */
function besideFile(name: string, field: string): string {
  if (typeof name !== 'string' || name.trim() === '') throw new Error(`ollamaModelfile: ${field} is missing`);
  if (/[/\\]/.test(name)) throw new Error(`ollamaModelfile: ${field} must be a file name beside the Modelfile, not a path: ${JSON.stringify(name)}`);
  if (!/\.gguf$/i.test(name)) throw new Error(`ollamaModelfile: ${field} must name a .gguf file: ${JSON.stringify(name)}`);
  if (name !== name.trim() || name.startsWith('"') || !/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u.test(name)) {
    throw new Error(`ollamaModelfile: ${field} has quotes, control characters or spaces at its ends: ${JSON.stringify(name)}`);
  }
  return `./${name}`;
}

/** PARAMETER lines for `parameters`, checked against the documented names and types. */
function parameterLines(parameters: OllamaParameters): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    if (value === undefined) continue;
    const type = (OLLAMA_PARAMETER_TYPES as Record<string, 'int' | 'float'>)[name];
    if (!type) throw new Error(`ollamaModelfile: parameters.${name} is not a parameter Ollama documents (${Object.keys(OLLAMA_PARAMETER_TYPES).join(', ')}; stop comes from the stop option)`);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`ollamaModelfile: parameters.${name} must be a finite number, got ${JSON.stringify(value)}`);
    if (type === 'int' && !Number.isInteger(value)) throw new Error(`ollamaModelfile: parameters.${name} must be an integer, got ${value}`);
    lines.push(`PARAMETER ${name} ${String(value)}`);
  }
  return lines;
}

/** Comment lines for `text`, with any character Ollama's parser would drop shown as '?'. */
const comment = (text: string): string[] =>
  text.split(/\r?\n/).map((line) => `# ${line.replace(/[^\p{L}\p{M}\p{N}\p{P}\p{S} \t]/gu, '?')}`);

/** The Modelfile text (see the comment at the top of this file). */
export function ollamaModelfile(options: OllamaModelfileOptions): string {
  const from = besideFile(options.ggufFileName, 'ggufFileName');
  const adapter = options.adapterFileName === undefined ? null : besideFile(options.adapterFileName, 'adapterFileName');
  if (adapter && adapter === from) throw new Error('ollamaModelfile: adapterFileName is the same file as ggufFileName');
  const chat = ollamaChat(options.chatTemplate, options.specialTokens, options.addsBos ?? true);
  const extraStop = options.stop ?? [];
  extraStop.forEach((s, i) => {
    if (typeof s !== 'string' || s === '') throw new Error(`ollamaModelfile: stop[${i}] must be a non-empty string`);
  });

  const out: string[] = ['# Ollama Modelfile written by webgpu-lora. Use: ollama create <name> -f Modelfile', ...chat.notes.flatMap(comment)];
  if (chat.kind === 'unrecognised') {
    out.push(...comment(`No TEMPLATE: the chat template's turns were not recognised (${chat.reason.replace(/[\r\n]+/g, ' ')}).`));
    out.push('# Ollama will choose a template from the GGUF (tokenizer.chat_template), or send prompts as they are.');
  }
  out.push(`FROM ${from}`);
  if (adapter) out.push(`ADAPTER ${adapter}`);
  if (chat.kind !== 'unrecognised') out.push(`TEMPLATE ${tripleQuoted(chat.kind === 'raw' ? chat.template : `\n${chat.template}\n`, 'TEMPLATE')}`);
  if (options.system !== undefined) out.push(`SYSTEM ${quoteValue(options.system, 'system')}`);
  // A stop string found in the chat template that no quoting can carry is left out with a comment
  // (the template's own turns still end at its EOS); one the caller asked for is an error.
  const stops: string[] = [];
  for (const s of unique(chat.stop)) {
    try {
      stops.push(`PARAMETER stop ${quoteValue(s, 'stop')}`);
    } catch (e) {
      stops.push(...comment(`The stop string ${JSON.stringify(s)} is left out: ${(e as Error).message.replace('ollamaModelfile: stop ', 'it ')}.`));
    }
  }
  for (const s of unique(extraStop).filter((x) => !chat.stop.includes(x))) stops.push(`PARAMETER stop ${quoteValue(s, `the stop string ${JSON.stringify(s)}`)}`);
  out.push(...stops);
  out.push(...parameterLines(options.parameters ?? {}));
  if (options.license !== undefined) out.push(`LICENSE ${quoteValue(options.license, 'license')}`);
  return `${out.join('\n')}\n`;
}
