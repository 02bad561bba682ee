// The turn structure of a chat template, found by rendering the Jinja template on probe
// conversations (it cannot be read off the Jinja source in general), and checked by rendering
// more conversations both ways. ollama-template.ts writes a Go template from this structure.
//
// The structure: a conversation is an optional system message first, then user and assistant
// messages taking turns, starting with a user message. The template writes
//   bos + head + U1 + userClose                      (no system message), or
//   bos + systemBefore + S + systemAfter + U1 + userClose        (system message S first),
// then for each later message its open text, its content and its close text
//   assistantOpen + A + assistantClose,  userOpen + U + userClose,
// and, with add_generation_prompt, the generation prompt at the end. The head holds whatever the
// template writes before the first user text: its BOS, a default system prompt (Qwen2.5), the
// first user turn's opening; Gemma and Llama 2 fold S into the first user turn, which the same
// systemBefore/systemAfter pair describes. A reply the model is still writing (a conversation
// that ends with an assistant message) opens with lastAssistantOpen and has no close: Qwen3
// writes an empty <think></think> block there and nowhere else.
import type { ChatMessage } from '../tokenize/chat-template.js';

/** A chat template rendered: the conversation, add_generation_prompt. */
export type RenderChat = (messages: ChatMessage[], addGenerationPrompt: boolean) => string;

export type TurnFamily = 'chatml' | 'gemma' | 'llama3' | 'llama2' | 'other';

export interface TurnFormat {
  /** The family named by the markers the turns use (only for comments; the pieces below are what count). */
  family: TurnFamily;
  /** The BOS text the template writes first, which llama.cpp adds itself when it tokenizes (null: none). */
  bos: string | null;
  /** Without a system message: the text after bos and before the first user message's content. */
  head: string;
  /** With a system message first: the text after bos and before its content. */
  systemBefore: string;
  /** With a system message first: the text between its content and the first user message's content. */
  systemAfter: string;
  userOpen: string;
  userClose: string;
  assistantOpen: string;
  assistantClose: string;
  /** The opening of an assistant message that ends the conversation (a reply being continued). */
  lastAssistantOpen: string;
  /** What add_generation_prompt appends. */
  generationPrompt: string;
  /** A system message after the first message, [before, after] its content; null where the template refuses one. */
  laterSystem: [string, string] | null;
  /** Whether the template strips whitespace around message contents, on either side (a Go template cannot). */
  trimsContent: boolean;
}

/** The outcome: a structure every check conversation agreed with, or why there is none. */
export type TurnFormatResult = { ok: true; format: TurnFormat } | { ok: false; reason: string };

const M = { s1: 'PROBE_SYS_1', s2: 'PROBE_SYS_2', u1: 'PROBE_USER_1', u2: 'PROBE_USER_2', a1: 'PROBE_ASSISTANT_1' };

/**
 * `text` cut around `markers`, each of which must occur exactly once, in order: n markers give
 * n + 1 pieces. Null when they do not.
 */
function cut(text: string, markers: string[]): string[] | null {
  const pieces: string[] = [];
  let from = 0;
  for (const m of markers) {
    const at = text.indexOf(m, from);
    if (at < 0 || text.indexOf(m, at + 1) >= 0) return null;
    pieces.push(text.slice(from, at));
    from = at + m.length;
  }
  pieces.push(text.slice(from));
  return pieces;
}

class Mismatch extends Error {}

/** `whole` minus its prefix `start`; a Mismatch naming `what` when it does not start so. */
function after(whole: string, start: string, what: string): string {
  if (!whole.startsWith(start)) throw new Mismatch(`${what}: ${JSON.stringify(whole)} does not start with ${JSON.stringify(start)}`);
  return whole.slice(start.length);
}

function cutOrFail(text: string, markers: string[], what: string): string[] {
  const pieces = cut(text, markers);
  if (!pieces) throw new Mismatch(`${what}: the rendered text ${JSON.stringify(text)} does not hold each message's content once, in order`);
  return pieces;
}

function familyOf(text: string): TurnFamily {
  if (text.includes('<|im_start|>')) return 'chatml';
  if (text.includes('<start_of_turn>')) return 'gemma';
  if (text.includes('<|start_header_id|>')) return 'llama3';
  if (text.includes('[INST]')) return 'llama2';
  return 'other';
}

/**
 * The text a template with this structure writes for `messages`: with a generation prompt when
 * the conversation ends with a user message, and left open (no close) when it ends with an
 * assistant message. Contents are stripped where the template strips them.
 */
export function renderTurns(f: TurnFormat, messages: ChatMessage[]): string {
  const hasSystem = messages[0]?.role === 'system';
  const content = (m: ChatMessage): string => (f.trimsContent ? m.content.trim() : m.content);
  let out = (f.bos ?? '') + (hasSystem ? f.systemBefore + messages[0].content + f.systemAfter : f.head);
  const rest = hasSystem ? messages.slice(1) : messages;
  rest.forEach((m, i) => {
    const last = i === rest.length - 1;
    if (m.role === 'system') {
      if (!f.laterSystem) throw new Error('renderTurns: this template takes no system message after the first message');
      out += f.laterSystem[0] + m.content + f.laterSystem[1];
    } else if (m.role === 'user') {
      out += (i === 0 ? '' : f.userOpen) + content(m) + f.userClose + (last ? f.generationPrompt : '');
    } else {
      out += (last ? f.lastAssistantOpen : f.assistantOpen) + content(m) + (last ? '' : f.assistantClose);
    }
  });
  return out;
}

/** The structure from the probes; throws Mismatch where the template does not follow it. */
function probe(render: RenderChat, bosToken: string | null): TurnFormat {
  const user1: ChatMessage = { role: 'user', content: M.u1 };
  const user2: ChatMessage = { role: 'user', content: M.u2 };
  const reply1: ChatMessage = { role: 'assistant', content: M.a1 };
  const system1: ChatMessage = { role: 'system', content: M.s1 };

  const one = render([user1], false);
  const [headWithBos, userClose] = cutOrFail(one, [M.u1], 'one user message');
  const generationPrompt = after(render([user1], true), one, 'the generation prompt');
  const [systemBeforeWithBos, systemAfter, userClose2] = cutOrFail(render([system1, user1], false), [M.s1, M.u1], 'a system and a user message');
  if (userClose2 !== userClose) throw new Mismatch('the user turn closes differently after a system message');

  const threeTurns = render([user1, reply1, user2], false);
  const [head3, closeAndOpen, closeAndOpenUser, userClose3] = cutOrFail(threeTurns, [M.u1, M.a1, M.u2], 'user, assistant, user');
  if (head3 !== headWithBos || userClose3 !== userClose) throw new Mismatch('user, assistant, user: the first or last turn differs from a lone user turn');
  const assistantOpen = after(closeAndOpen, userClose, 'the assistant turn');

  const [head2, closeAndLastOpen, assistantClose] = cutOrFail(render([user1, reply1], false), [M.u1, M.a1], 'user, assistant');
  if (head2 !== headWithBos) throw new Mismatch('user, assistant: the first turn differs from a lone user turn');
  const lastAssistantOpen = after(closeAndLastOpen, userClose, 'the last assistant turn');
  const userOpen = after(closeAndOpenUser, assistantClose, 'the second user turn');

  let laterSystem: [string, string] | null = null;
  try {
    const text = render([user1, reply1, system1, user2], false);
    const pieces = cut(text, [M.u1, M.a1, M.s1, M.u2]);
    if (pieces && pieces[0] === headWithBos && pieces[1] === closeAndOpen && pieces[4] === userClose && pieces[2].startsWith(assistantClose) && pieces[3].endsWith(userOpen)) {
      laterSystem = [pieces[2].slice(assistantClose.length), pieces[3].slice(0, pieces[3].length - userOpen.length)];
    }
  } catch {
    // The template refuses a system message there (Gemma's raises): such messages are left out.
  }

  const padded = render([{ role: 'user', content: `  ${M.u1} \n` }], false);
  const trimsContent = !padded.includes(`  ${M.u1} \n`);

  const bos = bosToken && headWithBos.startsWith(bosToken) && systemBeforeWithBos.startsWith(bosToken) ? bosToken : null;
  const strip = (s: string): string => (bos ? s.slice(bos.length) : s);
  return {
    family: familyOf(headWithBos + userOpen + assistantOpen),
    bos,
    head: strip(headWithBos),
    systemBefore: strip(systemBeforeWithBos),
    systemAfter,
    userOpen,
    userClose,
    assistantOpen,
    assistantClose,
    lastAssistantOpen,
    generationPrompt,
    laterSystem,
    trimsContent,
  };
}

/**
 * Conversations the structure must render exactly as the template does: contents with spaces,
 * line breaks, quotes and braces inside, several turns, with and without a system message, and
 * replies left open.
 */
const CHECKS: ChatMessage[][] = (() => {
  const s: ChatMessage = { role: 'system', content: 'You are a terse assistant.\nAnswer in "one" line.' };
  const u1: ChatMessage = { role: 'user', content: 'What is {{ 2 + 2 }}?' };
  const a1: ChatMessage = { role: 'assistant', content: 'It is 4.\n\nAnything else?' };
  const u2: ChatMessage = { role: 'user', content: "Name a colour, then a 'shape'." };
  const a2: ChatMessage = { role: 'assistant', content: 'Blue; a square.' };
  return [[u1], [s, u1], [u1, a1, u2], [s, u1, a1, u2, a2, u1], [u1, a1], [s, u1, a1, u2, a2]];
})();

/**
 * The turn structure of a chat template, or why it has none that this module can express. A
 * conversation that ends with an assistant message is checked against the template's text
 * without add_generation_prompt, minus that message's close.
 */
export function findTurnFormat(render: RenderChat, bosToken: string | null): TurnFormatResult {
  let format: TurnFormat;
  try {
    format = probe(render, bosToken);
  } catch (e) {
    const why = e instanceof Mismatch ? e.message : `rendering a probe conversation failed: ${(e as Error).message}`;
    return { ok: false, reason: why };
  }
  const checks = format.laterSystem ? [...CHECKS, [CHECKS[2][0], CHECKS[2][1], CHECKS[1][0], CHECKS[2][2]]] : CHECKS;
  for (const messages of checks) {
    const endsWithReply = messages[messages.length - 1].role === 'assistant';
    let want: string;
    try {
      want = render(messages, !endsWithReply);
    } catch (e) {
      return { ok: false, reason: `rendering a check conversation failed: ${(e as Error).message}` };
    }
    const got = renderTurns(format, messages) + (endsWithReply ? format.assistantClose : '');
    if (got !== want) {
      const roles = messages.map((m) => m.role).join(', ');
      return { ok: false, reason: `for a conversation of ${roles} the template writes ${JSON.stringify(want)}, the structure found ${JSON.stringify(got)}` };
    }
  }
  return { ok: true, format };
}
