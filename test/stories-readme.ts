// Reference facts of ../shared/models/stories260K/README.md, read from the README itself: the
// model's greedy continuations (token ids) and their text as llama2.c and transformers decode
// them. Empty when ../shared is absent (the tests that use them skip then).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_DIR } from './helpers.js';

export const STORIES_DIR = join(SHARED_DIR ?? '', 'models', 'stories260K');
const readme = SHARED_DIR && existsSync(join(STORIES_DIR, 'README.md')) ? readFileSync(join(STORIES_DIR, 'README.md'), 'utf8') : '';

const idLists = [...readme.matchAll(/^ids: `\[([\d, ]+)\]`/gm)].map((m) => m[1].split(',').map(Number));
// The texts are written as JSON strings ("...\n...\"...").
const texts = [...readme.matchAll(/^text[^:\n]*: (".*")$/gm)].map((m) => JSON.parse(m[1]) as string);
const promptIds = /\*\*2\. Prompt `'Once upon a time'`\*\*: ids with BOS `\[([\d, ]+)\]`/.exec(readme);

/** 'Once upon a time' encoded with special tokens (BOS = 1 first). */
export const ONCE_IDS: number[] = promptIds ? promptIds[1].split(',').map(Number) : [];
/** 1. 200 greedy tokens after the input [1] (BOS not included), and their text. */
export const FROM_BOS_IDS: number[] = idLists[0] ?? [];
export const FROM_BOS_TEXT: string = texts[0] ?? '';
/** 2. 200 greedy tokens after ONCE_IDS (the prompt not included), and their text (it starts with a comma). */
export const AFTER_ONCE_IDS: number[] = idLists[1] ?? [];
export const AFTER_ONCE_TEXT: string = texts[1] ?? '';
