// Chat templates: where a model folder keeps its Jinja template, and rendering it with
// @huggingface/jinja the way transformers' apply_chat_template does with Python's jinja2 (the
// same variables; the engine already uses transformers' trim_blocks and lstrip_blocks settings;
// Python's string stripping put in by jinja-python.ts).
import { Template } from '@huggingface/jinja';
import { registerTemplate, RenderLimitError, renderBounded, renderLimits, TemplateRaised, templateSource } from './bounded-render.js';
import { PYTHON_STRING_FUNCTIONS, usePythonStringSemantics } from './jinja-python.js';
import { readJsonIfExists, readTextIfExists, type ModelSource } from '../model/source.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * tokenizer_config.json's chat_template: a string, or a list of {name, template} of which the
 * entry named 'default' is the chat template (the others are for tools or retrieval).
 */
export function templateFromConfig(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const entry = value.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default');
    const template = (entry as { template?: unknown } | undefined)?.template;
    return typeof template === 'string' ? template : null;
  }
  return null;
}

/**
 * The folder's chat template. Newer transformers save it as chat_template.jinja beside the
 * config (and leave it out of tokenizer_config.json); when that file exists it wins, as it does
 * when transformers loads the folder. Some older folders keep it in chat_template.json instead.
 */
export async function loadChatTemplate(source: ModelSource, configValue: unknown): Promise<string | null> {
  const jinja = await readTextIfExists(source, 'chat_template.jinja');
  if (jinja !== null) return jinja;
  const fromConfig = templateFromConfig(configValue);
  if (fromConfig !== null) return fromConfig;
  const json = await readJsonIfExists<{ chat_template?: unknown }>(source, 'chat_template.json');
  return json ? templateFromConfig(json.chat_template) : null;
}

/**
 * The template parsed once, with Python's str.strip/lstrip/rstrip and trim (see
 * jinja-python.ts); a syntax error names the folder it came from.
 */
export function compileChatTemplate(template: string, where: string): Template {
  let compiled: Template;
  try {
    compiled = usePythonStringSemantics(new Template(template));
  } catch (e) {
    throw new Error(`the chat template of ${where} does not parse: ${(e as Error).message}`);
  }
  registerTemplate(compiled, where);
  return compiled;
}

/**
 * The conversation as the template writes it. `specialTokens` holds the text of bos_token,
 * eos_token, ... (only those that are set); like transformers, they are passed to the template
 * under those names, next to `messages` and `add_generation_prompt`. A template's own
 * raise_exception(...) call surfaces as an Error with its message. A template is a program from
 * the model's folder, so rendering is bounded (renderLimits): one that loops, recurses or grows
 * without end is stopped with an Error naming the folder and the limit.
 */
export function renderChatTemplate(
  template: Template,
  messages: ChatMessage[],
  addGenerationPrompt: boolean,
  specialTokens: Record<string, string>,
): string {
  const items: Record<string, unknown> = {
    ...PYTHON_STRING_FUNCTIONS,
    ...specialTokens,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: addGenerationPrompt,
  };
  try {
    return renderBounded(template, items, renderLimits(messages, specialTokens));
  } catch (e) {
    const where = `the chat template of ${templateSource(template)}`;
    if (e instanceof RenderLimitError) throw new Error(`${where} was stopped: ${e.message}; a chat template must render a conversation in bounded time and size`);
    if (e instanceof TemplateRaised) throw new Error(`${where} raised an error: ${e.message}`);
    // The engine's own limits (a string longer than it holds, a stack overflow) are limits too.
    if (e instanceof RangeError) throw new Error(`${where} was stopped: ${e.message}; a chat template must render a conversation in bounded time and size`);
    throw new Error(`${where} cannot render this conversation: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A reasoning block that the chat template makes the model write at the start of each reply. */
export interface ReasoningFormat {
  /** The tag that opens the block, e.g. '<think>'. */
  open: string;
  /** The tag that closes it, e.g. '</think>'. */
  close: string;
  /** What the template writes between the closing tag and the reply's text, e.g. '\n\n'. */
  separator: string;
  /** The generation prompt (e.g. '<|im_start|>assistant\n'): what a prompt ends with before the model writes the block. */
  generationPrompt: string;
}

const PROBE_REPLY = 'PROBE-REPLY-7f3a';

/**
 * The reasoning block a template writes before every reply it learns, found by rendering a
 * one-turn probe: the text between the generation prompt and the reply must be an empty block,
 * `<tag>` and `</tag>` with only whitespace around and between them (Qwen3 writes
 * '<think>\n\n</think>\n\n'). Null when the template writes nothing there, or anything else.
 */
export function findReasoningFormat(render: (messages: ChatMessage[], addGenerationPrompt: boolean) => string): ReasoningFormat | null {
  const prompt: ChatMessage[] = [{ role: 'user', content: 'Hello' }];
  let base: string, before: string, through: string;
  try {
    base = render(prompt, false);
    before = render(prompt, true);
    through = render([...prompt, { role: 'assistant', content: PROBE_REPLY }], false);
  } catch {
    return null;
  }
  if (!before.startsWith(base) || !through.startsWith(before)) return null;
  const turn = through.slice(before.length);
  const lead = turn.slice(0, Math.max(0, turn.indexOf(PROBE_REPLY)));
  const m = /^\s*(<([A-Za-z_][\w-]*)>)\s*(<\/\2>)(\s*)$/.exec(lead);
  return m ? { open: m[1], close: m[3], separator: m[4], generationPrompt: before.slice(base.length) } : null;
}
