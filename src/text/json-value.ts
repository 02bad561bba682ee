// Small helpers for reading untrusted JSON files: whether a value is a JSON object, and a value
// as an error message shows it.

/** A JSON object (not null, not an array). */
export const isJsonObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `v` as JSON, cut to 80 characters (a file may hold megabytes in one field). */
export const showValue = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 80);
