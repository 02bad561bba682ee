// The chat templates of Qwen3, Qwen2.5, Gemma 3 and Llama 3 (../shared/models/*-vocab) rendered
// here and by Python's jinja2 in the environment transformers' apply_chat_template builds
// (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, raise_exception), on conversations made to
// find differences: replies that start or end with spaces and newlines, whitespace that only Python
// or only JavaScript strips, <think> blocks written in the reply, several turns, system messages.
// Every beginning of each conversation is rendered, with and without the generation prompt.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/tokenize/tokenizer.js';
import { SHARED_DIR } from '../helpers.js';
import { loadTokenizer, suiteTitle } from './fixtures.js';

const FAMILIES = ['qwen3-vocab', 'qwen2.5-vocab', 'gemma3-vocab', 'llama3-vocab'];

const PYTHON = `
import json, sys
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
def raise_exception(message): raise Exception(message)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters['tojson'] = lambda x, indent=None, separators=None, sort_keys=False: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
env.globals['raise_exception'] = raise_exception
job = json.load(sys.stdin)
template = env.from_string(job['template'])
out = []
for messages in job['conversations']:
    for i in range(1, len(messages) + 1):
        for gen in (False, True):
            out.append(template.render(messages=messages[:i], add_generation_prompt=gen, **job['special']))
print(json.dumps(out))
`;

const jinja2Missing = (() => {
  const r = spawnSync('python3', ['-c', 'import jinja2'], { encoding: 'utf8' });
  return r.error ? 'python3 is not on this machine' : r.status !== 0 ? "python3 has no jinja2 module (pip install jinja2)" : null;
})();

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });
const CONVERSATIONS: ChatMessage[][] = [
  [user('Translate to French: cat'), assistant(' chat')],
  [user('Reply with a newline first'), assistant('\nStarts after a newline.')],
  [user('  padded user  '), assistant('\n\n  indented\n\n')],
  [user('tabs'), assistant('\t tab \t')],
  [user('Python-only whitespace'), assistant('\x1c\x85 a \x85\x1f')],
  [user('JavaScript-only whitespace'), assistant('\ufeffbom\ufeff')],
  [user('wide spaces'), assistant('\u3000ideographic\u00a0\u2028')],
  [user('reasoning'), assistant('<think>\nBecause.\n</think>\n\nThe answer.')],
  [user('empty reasoning'), assistant('<think>\n\n</think>\n\n answer with a space')],
  [user('two closings'), assistant('x</think>y</think>\n\nz')],
  [{ role: 'system', content: '  Be brief.  ' }, user('<tool_response>data</tool_response>'), assistant('ok'), user('again?'), assistant(' yes ')],
  [user('Hello'), assistant('<think>first</think>Hi!'), user('환불해 주세요'), assistant('\n네, 🙂 도와드리겠습니다.\n')],
  [{ role: 'system', content: 'One word.' }, user('A?'), assistant('B'), user('C?'), assistant('D'), user('E?'), assistant('F')],
];

describe.skipIf(!SHARED_DIR || jinja2Missing !== null)(
  suiteTitle(`chat templates render as Python's jinja2 renders them${jinja2Missing ? ` (skipped: ${jinja2Missing})` : ''}`),
  () => {
    it.each(FAMILIES)('%s', async (family) => {
      const tok = await loadTokenizer(family);
      const special = Object.fromEntries(
        (['bos_token', 'eos_token', 'pad_token'] as const)
          .map((k) => [k, k === 'bos_token' ? tok.bosTokenId : k === 'eos_token' ? tok.eosTokenId : tok.padTokenId] as const)
          .filter(([, id]) => id !== null)
          .map(([k, id]) => [k, tok.idToToken(id!)]),
      );
      const job = { template: tok.chatTemplate, special, conversations: CONVERSATIONS };
      const py = spawnSync('python3', ['-c', PYTHON], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 1 << 26 });
      expect(py.status, py.stderr).toBe(0);
      const want: string[] = JSON.parse(py.stdout);
      const got: string[] = [];
      for (const messages of CONVERSATIONS) {
        for (let i = 1; i <= messages.length; i++) {
          for (const gen of [false, true]) got.push(tok.applyChatTemplate(messages.slice(0, i), { addGenerationPrompt: gen }));
        }
      }
      expect(got).toEqual(want);
    });
  },
);
