// Fixtures for the tokenizer tests: the models in ../shared, suite titles that carry the skip
// reason when ../shared is absent, and throwaway model folders (real files from ../shared next to
// files a test writes) in a fresh directory under the OS temp dir.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

/** ../shared/models/<name> (a path that does not exist when ../shared is absent). */
export const modelDir = (name: string): string => join(SHARED_DIR ?? '', 'models', name);

/** The tokenizer of a fixture model. */
export const loadTokenizer = (name: string): Promise<TextTokenizer> => TextTokenizer.load(folderSource(modelDir(name)));

/** A JSON file of a fixture model, parsed. */
export const readModelJson = (name: string, file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(modelDir(name), file), 'utf8'));

/** A describe() title that says why the suite is skipped when ../shared is absent. */
export const suiteTitle = (name: string): string => (SHARED_DIR ? name : `${name} (skipped: ${NO_SHARED_REASON})`);

export interface TempFolder {
  dir: string;
  remove(): void;
}

/** A folder holding copies of `copies` (paths) and the text or JSON values of `files`. */
export function tempFolder(copies: string[], files: Record<string, string | object>): TempFolder {
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-lora-tokenize-'));
  for (const path of copies) copyFileSync(path, join(dir, basename(path)));
  for (const [name, value] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
