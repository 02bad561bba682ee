// Readers of config.json fields that name the field and the file in every error (./config.ts,
// ./rope-config.ts).

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

export type Json = Record<string, unknown>;

/**
 * The largest value this engine accepts for each size field of a config.json, far above the
 * largest released models (Llama 3.1 405B: hidden_size 16384, intermediate_size 53248, 126
 * layers, 128 heads; Gemma 3: vocab_size 262208, head_dim 256; contexts of 10M positions), so that
 * a corrupt or hostile file is refused before anything is sized from it. Any other integer field
 * is at most 2^31 − 1, so that it fits the 32-bit integers of the kernels' uniforms.
 */
export const SIZE_LIMITS: Readonly<Record<string, number>> = {
  vocab_size: 2 ** 24,
  hidden_size: 2 ** 16,
  n_embd: 2 ** 16,
  intermediate_size: 2 ** 20,
  n_inner: 2 ** 20,
  num_hidden_layers: 1024,
  n_layer: 1024,
  num_attention_heads: 1024,
  n_head: 1024,
  num_key_value_heads: 1024,
  head_dim: 4096,
  max_position_embeddings: 2 ** 24,
  n_positions: 2 ** 24,
  original_max_position_embeddings: 2 ** 24,
};
const INT_LIMIT = 2 ** 31 - 1;

/** `v` as JSON for an error message, cut to its first 100 characters (a hostile file's value may be huge). */
export function quote(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}… (${s.length} characters)` : s;
}

/** Field readers over `config` that name the field and `where` in every error. */
export function fields(config: Json, where: string) {
  const fail = (field: string, msg: string): never => {
    throw new ModelConfigError(`${where}: ${field} ${msg}`);
  };
  const present = (field: string) => config[field] !== undefined && config[field] !== null;
  const positiveInt = (field: string, fallback?: number): number => {
    const v = config[field] ?? fallback;
    if (v === undefined || v === null) fail(field, 'is missing; it is required');
    if (!Number.isSafeInteger(v) || (v as number) <= 0) fail(field, `must be a positive integer, not ${quote(v)}`);
    const limit = SIZE_LIMITS[field] ?? INT_LIMIT;
    if ((v as number) > limit) fail(field, `is ${v}, too large: this engine accepts at most ${limit} (the file is corrupt or not a model this engine can hold)`);
    return v as number;
  };
  const positiveNumber = (field: string, fallback?: number): number => {
    const v = config[field] ?? fallback;
    if (v === undefined || v === null) fail(field, 'is missing; it is required');
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) fail(field, `must be a positive number, not ${quote(v)}`);
    return v as number;
  };
  const bool = (field: string, fallback: boolean): boolean => {
    const v = config[field] ?? fallback;
    if (typeof v !== 'boolean') fail(field, `must be true or false, not ${quote(v)}`);
    return v as boolean;
  };
  const tokenIds = (field: string): number[] => {
    const v = config[field];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => Number.isSafeInteger(x) && x >= 0 && x <= INT_LIMIT)) fail(field, `must be a token id (0 to ${INT_LIMIT}), a list of them or null, not ${quote(v)}`);
    return list as number[];
  };
  return { where, config, fail, present, positiveInt, positiveNumber, bool, tokenIds };
}

export type Fields = ReturnType<typeof fields>;
