// Reading one field of a request body, with an OpenAI-style 400 that names the field when its
// value is of the wrong type or out of range. Every reader treats a missing field and JSON null
// alike (OpenAI's clients send null for "not set").
import { kindOf } from '../train/records.js';
import { invalidField } from './errors.js';

export type Body = Record<string, unknown>;

/** A JSON value's kind in words: "a number", "null", "a list", ... (as dataset errors word it). */
export const kind = kindOf;

function wrongType(param: string, wanted: string, value: unknown) {
  return invalidField(param, `'${param}' must be ${wanted}, not ${kind(value)}`, 'invalid_type');
}

/** A number in [min, max] (either bound may be open: `minOpen`), or undefined when absent. */
export function optionalNumber(body: Body, param: string, min: number, max: number, minOpen = false): number | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType(param, 'a number', v);
  if (v < min || v > max || (minOpen && v === min)) {
    throw invalidField(param, `'${param}' must be ${minOpen ? `greater than ${min}` : `at least ${min}`} and at most ${max}, got ${v}`);
  }
  return v;
}

/** An integer ≥ min (and ≤ max), or undefined when absent. */
export function optionalInteger(body: Body, param: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType(param, 'an integer', v);
  if (v < min || v > max) throw invalidField(param, `'${param}' must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

export function optionalBoolean(body: Body, param: string): boolean | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw wrongType(param, 'a boolean', v);
  return v;
}

export function optionalString(body: Body, param: string): string | undefined {
  const v = body[param];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw wrongType(param, 'a string', v);
  return v;
}

/** OpenAI allows at most this many stop sequences. */
export const MAX_STOP_SEQUENCES = 4;

/** 'stop': a string or a list of at most 4 non-empty strings; [] when absent. */
export function stopSequences(body: Body): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw wrongType('stop', 'a string or a list of strings', v);
  if (list.length > MAX_STOP_SEQUENCES) throw invalidField('stop', `'stop' takes at most ${MAX_STOP_SEQUENCES} sequences, got ${list.length}`);
  list.forEach((s, k) => {
    if (typeof s !== 'string') throw wrongType(`stop.[${k}]`, 'a string', s);
    if (s === '') throw invalidField(`stop.[${k}]`, `'stop.[${k}]' is empty; a stop sequence needs at least one character`);
  });
  return list as string[];
}

/**
 * A field this server does not implement, allowed only at the value that means "off" (e.g.
 * frequency_penalty 0, n 1, logprobs false): any other value is a 400 that says so, rather
 * than a result that silently ignores what was asked.
 */
export function onlyNeutral(body: Body, param: string, isNeutral: (v: unknown) => boolean, what: string): void {
  const v = body[param];
  if (v === undefined || v === null || isNeutral(v)) return;
  throw invalidField(param, `'${param}' is not supported by this server (${what}), got ${JSON.stringify(v)}`, 'unsupported_parameter');
}

/** A 400 for the first field of `body` that is not in `known`, as OpenAI answers one. */
export function rejectUnknown(body: Body, known: ReadonlySet<string>): void {
  for (const key of Object.keys(body)) {
    if (!known.has(key)) throw invalidField(key, `Unrecognized request argument supplied: ${key}`, 'unknown_parameter');
  }
}
