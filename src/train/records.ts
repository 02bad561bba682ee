// One training record (a JSONL object, or a CSV row turned into one) → a conversation, or the list
// of what is wrong with it. Every problem of a record is found, not just the first, so that the
// person fixing the file sees them all at once.
import type { ChatMessage } from '../tokenize/tokenizer.js';

/**
 * The record forms that are understood, told apart by their keys (checked in this order):
 *   {"messages": [{"role", "content"}, ...]}    chat; loss on the assistant turns
 *   {"instruction", "input"?, "output"}          Alpaca; instruction and input joined by a blank line
 *   {"input", "output"}                          this project's own form
 *   {"prompt", "completion"}                     OpenAI's older fine-tuning form
 * Other keys are ignored.
 */
export const ACCEPTED_FORMS = '{"input", "output"}, {"prompt", "completion"}, {"messages": [...]} or {"instruction", "input", "output"}';

const ROLES = new Set(['system', 'user', 'assistant']);

export type RecordResult = { messages: ChatMessage[] } | { problems: string[] };

/** The conversation a record holds, or every problem found in it. */
export function recordToMessages(record: Record<string, unknown>): RecordResult {
  if ('messages' in record) return fromMessages(record.messages);
  if ('instruction' in record) return fromInstruction(record);
  if ('input' in record || 'output' in record) return fromPair(record, 'input', 'output');
  if ('prompt' in record || 'completion' in record) return fromPair(record, 'prompt', 'completion');
  const keys = Object.keys(record);
  const found = keys.length ? `it has ${keys.map((k) => JSON.stringify(k)).join(', ')}` : 'it is empty';
  return { problems: [`missing "input" and "output" (${found}; accepted forms: ${ACCEPTED_FORMS})`] };
}

/** {input, output} or {prompt, completion}: one user turn and one assistant turn. */
function fromPair(record: Record<string, unknown>, inKey: string, outKey: string): RecordResult {
  const problems: string[] = [];
  const input = requiredText(record, inKey, problems);
  const output = requiredText(record, outKey, problems);
  if (problems.length) return { problems };
  return { messages: [user(input!), assistant(output!)] };
}

/** Alpaca: {instruction, input?, output}; an absent, null or blank input is left out. */
function fromInstruction(record: Record<string, unknown>): RecordResult {
  const problems: string[] = [];
  const instruction = requiredText(record, 'instruction', problems);
  const output = requiredText(record, 'output', problems);
  const input = record.input;
  if (input !== undefined && input !== null && typeof input !== 'string') problems.push('"input" must be a string');
  if (problems.length) return { problems };
  const text = typeof input === 'string' && input.trim() !== '' ? `${instruction}\n\n${input}` : instruction!;
  return { messages: [user(text), assistant(output!)] };
}

/** {messages: [...]}: each message checked, then the shape of the conversation. */
function fromMessages(value: unknown): RecordResult {
  if (!Array.isArray(value)) return { problems: [`"messages" must be a list of {"role", "content"} objects, not ${kindOf(value)}`] };
  if (value.length === 0) return { problems: ['"messages" is empty'] };
  const problems: string[] = [];
  const messages: ChatMessage[] = [];
  value.forEach((m: unknown, k) => {
    const where = `message ${k + 1}`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      problems.push(`${where} must be a {"role", "content"} object, not ${kindOf(m)}`);
      return;
    }
    const { role, content } = m as Record<string, unknown>;
    let ok = true;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      const got = role === undefined ? 'no "role"' : `the role ${JSON.stringify(role)}`;
      problems.push(`${where} has ${got}; the role must be "system", "user" or "assistant"`);
      ok = false;
    }
    if (typeof content !== 'string') {
      problems.push(content === undefined ? `${where} has no "content"` : `${where}'s "content" must be a string, not ${kindOf(content)}`);
      ok = false;
    } else if (content.trim() === '') {
      problems.push(`${where}'s "content" is empty`);
      ok = false;
    }
    if (ok) messages.push({ role: role as ChatMessage['role'], content: content as string });
  });
  if (problems.length) return { problems };
  const shape = conversationProblems(messages);
  return shape.length ? { problems: shape } : { messages };
}

/**
 * What is wrong with the shape of a conversation: an optional system message first, then turns
 * that alternate user, assistant, user, ..., ending with the assistant (whatever came after the
 * last reply would teach nothing). Chat templates and the plain template both rely on this.
 */
export function conversationProblems(messages: ChatMessage[]): string[] {
  const problems: string[] = [];
  const start = messages[0]?.role === 'system' ? 1 : 0;
  for (let k = start; k < messages.length; k++) {
    const role = messages[k].role;
    if (role === 'system') {
      problems.push(`message ${k + 1} is a system message; only the first message may be one`);
    } else if (k === start && role !== 'user') {
      problems.push(`message ${k + 1} is from the assistant; the conversation must start with a user message (after an optional system message)`);
    } else if (k > start && role === messages[k - 1].role) {
      problems.push(`messages ${k} and ${k + 1} are both from the ${role}; user and assistant turns must alternate`);
    }
  }
  if (!messages.some((m) => m.role === 'assistant')) {
    problems.push('there is no assistant message, so there is nothing to learn');
  } else if (messages[messages.length - 1].role !== 'assistant') {
    problems.push(`the last message is from the ${messages[messages.length - 1].role}; the conversation must end with the assistant's reply`);
  }
  return problems;
}

/** record[key] as a non-blank string, or a problem pushed and undefined. */
function requiredText(record: Record<string, unknown>, key: string, problems: string[]): string | undefined {
  const value = record[key];
  if (value === undefined) problems.push(`missing "${key}"`);
  else if (typeof value !== 'string') problems.push(`"${key}" must be a string, not ${kindOf(value)}`);
  else if (value.trim() === '') problems.push(`"${key}" is empty`);
  else return value;
  return undefined;
}

/** A JSON value's kind in words, for messages: "a number", "null", "a list", ... */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return typeof value;
}

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });
