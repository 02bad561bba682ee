// The optional API key: when the server has one, every request must carry it as
// `Authorization: Bearer <key>` (what OpenAI's clients send from their apiKey), or get a 401.
//
// The comparison takes the same time whatever the key sent: both keys are hashed with SHA-256
// and the two 32-byte digests compared with crypto.timingSafeEqual, so neither the length nor
// the first differing character of the real key shows in how long a wrong guess takes.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError } from './errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * A check of a request's Authorization header against `apiKey`: it returns the 401 to send,
 * or null when the request may go on (always, when there is no key).
 */
export function apiKeyChecker(apiKey: string | undefined): (authorization: string | undefined) => ApiError | null {
  if (apiKey === undefined) return () => null;
  if (apiKey === '') throw new Error('the API key is empty; give a non-empty key, or none to serve without one');
  const expected = digest(apiKey);
  return (authorization) => {
    const m = /^Bearer[ \t]+(.*)$/i.exec(authorization ?? '');
    if (!m || m[1].trim() === '') {
      return new ApiError(
        401,
        "You didn't provide an API key. This server needs one, in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).",
        null,
        'missing_api_key',
      );
    }
    if (!timingSafeEqual(digest(m[1].trim()), expected)) {
      return new ApiError(401, 'Incorrect API key provided.', null, 'invalid_api_key');
    }
    return null;
  };
}
