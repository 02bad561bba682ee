// The --out folder of a command that writes it at the end of long work (train, merge), checked
// before the work starts: a folder that cannot be written, or one that holds results the user may
// not mean to lose, then costs nothing. What a killed earlier write left beside the folder is put
// back in order first (recoverFolder), so the checks see the folder as that write left it whole.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkFolderWritable, recoverFolder } from '../io/atomic-node.js';

/** Results in --out that are kept unless the user says --overwrite: these files, named `what`. */
export interface KeptResult {
  files: string[];
  what: string;
  overwrite: boolean;
}

/**
 * Recover --out from a killed write, refuse to replace `kept` without --overwrite, and check that
 * --out can be written; each failure is an Error naming --out (exit code 1).
 */
export async function prepareOutFolder(out: string, kept?: KeptResult): Promise<void> {
  await recoverFolder(out);
  const found = kept && !kept.overwrite ? kept.files.filter((f) => existsSync(join(out, f))) : [];
  if (found.length) throw new Error(`--out '${out}' already holds ${kept!.what} (${found.join(', ')}); give --overwrite to replace it, or another --out`);
  await checkFolderWritable(out, `--out '${out}'`);
}
