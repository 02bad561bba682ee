// A request's body read as JSON: only with Content-Type application/json, at most a set number
// of bytes, and an object at the top level.
//
// Requiring the JSON content type is also a defence: a web page in a browser can send a "simple"
// cross-origin POST (text/plain or a form) to 127.0.0.1 without asking first, but not one with
// application/json, which needs a CORS preflight that this server never answers with permission.
import type { IncomingMessage } from 'node:http';
import { ApiError } from './errors.js';

/** The default limit on a request body: 1 MiB, far more than the longest prompt a small model takes. */
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

/** The body of `req` parsed as a JSON object; an ApiError (400, 413 or 415) when it is not one. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(
      415,
      `the request body must be JSON sent with the header Content-Type: application/json (got ${type ? `'${type}'` : 'no Content-Type'})`,
      null,
      'unsupported_media_type',
    );
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);

  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new ApiError(400, 'the request body is empty; send a JSON object', null, 'invalid_json');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, `the request body must be a JSON object, not ${Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`}`, null, 'invalid_json');
  }
  return value as Record<string, unknown>;
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, `the request body is larger than ${maxBytes} bytes, the most this server reads`, null, 'request_too_large');
}
