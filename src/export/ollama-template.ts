// An Ollama TEMPLATE (Go text/template) that writes the same prompt as a chat template whose
// turn structure turn-format.ts found.
//
// Ollama runs a template that mentions .Messages once per request, with .Messages the whole
// conversation (a Modelfile's SYSTEM arrives as a first message of role "system"; consecutive
// messages of one role are joined by a blank line). The template written here walks them:
//   - a system message first is written with systemBefore/systemAfter around its content, and the
//     first user message follows it directly; without one the head comes first;
//   - each later user or assistant message is open + content + close;
//   - a last user message is followed by the generation prompt; a last assistant message is a
//     reply being continued, so it opens with lastAssistantOpen and is not closed;
//   - a later system message is written the way the template writes one, or left out where the
//     template refuses it; messages of other roles (tool results) are left out;
//   - contents go in as they are: where a Jinja template rewrites them (Gemma and Llama 3 strip
//     whitespace; Qwen3 drops a <think>...</think> part from earlier replies) the prompts differ
//     for such contents only (Ollama keeps a reply's thinking apart, in .Thinking, in any case).
// Every piece of literal text is a Go string constant ({{ "..." }}), so that the layout of the
// template (line breaks and indentation between actions) can be trimmed away with {{- and never
// eats whitespace that belongs to the prompt, and so that no text of the prompt can close the
// Modelfile's """ quotes or be read as an action.
import type { TurnFormat } from './turn-format.js';

/** `text` as a Go interpreted string literal: quotes, backslashes and every non-printable character escaped. */
export function goString(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) out += ch;
    else out += code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return out + '"';
}

/** A template action that writes `text`; nothing when it is empty. */
const lit = (text: string): string => (text ? `{{ ${goString(text)} }}` : '');

/** Lines of template, each starting with a trimming action, so the line breaks between them are not output. */
const lines = (...parts: (string | false)[]): string => parts.filter((p): p is string => p !== false && p !== '').join('\n');

/** The Go template for a chat format (see the comment at the top of this file). */
export function chatGoTemplate(f: TurnFormat): string {
  const systemFirst = `(eq (index $.Messages 0).Role "system")`;
  const laterSystem = f.laterSystem
    ? `{{- else if eq .Role "system" }}${lit(f.laterSystem[0])}{{ .Content }}${lit(f.laterSystem[1])}`
    : false;
  const assistantOpen =
    f.lastAssistantOpen === f.assistantOpen
      ? lit(f.assistantOpen)
      : `{{ if $last }}${lit(f.lastAssistantOpen)}{{ else }}${lit(f.assistantOpen)}{{ end }}`;
  return lines(
    '{{- /* The turns of the model\'s chat template. $first: no user or assistant message written yet. */}}',
    '{{- $first := true }}',
    '{{- range $i, $m := .Messages }}',
    '{{- $last := eq (len (slice $.Messages $i)) 1 }}',
    `{{- if and (eq $i 0) (eq .Role "system") }}{{/* written with the first user message */}}`,
    laterSystem,
    `{{- else if eq .Role "user" }}`,
    `{{-   if $first }}{{ if ${systemFirst} }}${lit(f.systemBefore)}{{ (index $.Messages 0).Content }}${lit(f.systemAfter)}{{ else }}${lit(f.head)}{{ end }}`,
    `{{-   else }}${lit(f.userOpen)}`,
    '{{-   end }}',
    `{{-   .Content }}${lit(f.userClose)}${f.generationPrompt ? `{{ if $last }}${lit(f.generationPrompt)}{{ end }}` : ''}`,
    '{{-   $first = false }}',
    `{{- else if eq .Role "assistant" }}${assistantOpen}`,
    `{{-   .Content }}{{ if not $last }}${lit(f.assistantClose)}{{ end }}`,
    '{{-   $first = false }}',
    '{{- end }}',
    '{{- end -}}',
  );
}

/** The template of a model without a chat template: the prompt as it is (Ollama appends the reply). */
export const RAW_COMPLETION_TEMPLATE = '{{ .Prompt }}';
