// Chat templates: where a model folder keeps its Jinja template, and rendering it with
// @huggingface/jinja the way transformers' apply_chat_template does (the same variables; the
// engine already uses transformers' trim_blocks and lstrip_blocks settings).
import { Template } from '@huggingface/jinja';
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

/** The template parsed once; a syntax error names the folder it came from. */
export function compileChatTemplate(template: string, where: string): Template {
  try {
    return new Template(template);
  } catch (e) {
    throw new Error(`the chat template of ${where} does not parse: ${(e as Error).message}`);
  }
}

/**
 * The conversation as the template writes it. `specialTokens` holds the text of bos_token,
 * eos_token, ... (only those that are set); like transformers, they are passed to the template
 * under those names, next to `messages` and `add_generation_prompt`. A template's own
 * raise_exception(...) call surfaces as an Error with its message.
 */
export function renderChatTemplate(
  template: Template,
  messages: ChatMessage[],
  addGenerationPrompt: boolean,
  specialTokens: Record<string, string>,
): string {
  return template.render({
    ...specialTokens,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: addGenerationPrompt,
  });
}
