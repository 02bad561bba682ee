// Where a Hugging Face model folder's files come from: a local folder (Node, ./source-node.ts),
// a base URL, or files the user picked in a browser. Readers ask for byte ranges so that large
// safetensors files are never held whole in memory.

export interface ModelSource {
  /** A path or URL, used in messages. */
  readonly description: string;
  exists(file: string): Promise<boolean>;
  /** The file's size in bytes; throws when it does not exist. */
  size(file: string): Promise<number>;
  /** Bytes [start, end) of the file (default: all of it); throws when it does not exist. */
  read(file: string, start?: number, end?: number): Promise<Uint8Array>;
}

/** A file's text, or null when the source does not have it. */
export async function readTextIfExists(source: ModelSource, file: string): Promise<string | null> {
  if (!(await source.exists(file))) return null;
  return new TextDecoder().decode(await source.read(file));
}

/** A JSON file, parsed, or null when absent; invalid JSON is an error naming the file. */
export async function readJsonIfExists<T = unknown>(source: ModelSource, file: string): Promise<T | null> {
  const text = await readTextIfExists(source, file);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${source.description}/${file} is not valid JSON: ${(e as Error).message}`);
  }
}
