// Readers of config.json fields that name the field and the file in every error (./config.ts,
// ./rope-config.ts).

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

export type Json = Record<string, unknown>;

/** Field readers over `config` that name the field and `where` in every error. */
export function fields(config: Json, where: string) {
  const fail = (field: string, msg: string): never => {
    throw new ModelConfigError(`${where}: ${field} ${msg}`);
  };
  const present = (field: string) => config[field] !== undefined && config[field] !== null;
  const positiveInt = (field: string, fallback?: number): number => {
    const v = config[field] ?? fallback;
    if (v === undefined || v === null) fail(field, 'is missing; it is required');
    if (!Number.isSafeInteger(v) || (v as number) <= 0) fail(field, `must be a positive integer, not ${JSON.stringify(v)}`);
    return v as number;
  };
  const positiveNumber = (field: string, fallback?: number): number => {
    const v = config[field] ?? fallback;
    if (v === undefined || v === null) fail(field, 'is missing; it is required');
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) fail(field, `must be a positive number, not ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (field: string, fallback: boolean): boolean => {
    const v = config[field] ?? fallback;
    if (typeof v !== 'boolean') fail(field, `must be true or false, not ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const tokenIds = (field: string): number[] => {
    const v = config[field];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => Number.isSafeInteger(x) && x >= 0)) fail(field, `must be a token id, a list of them or null, not ${JSON.stringify(v)}`);
    return list as number[];
  };
  return { where, config, fail, present, positiveInt, positiveNumber, bool, tokenIds };
}

export type Fields = ReturnType<typeof fields>;
