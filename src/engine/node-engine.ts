// The engine in Node: in-process, on Dawn (SwiftShader where the machine has no GPU driver; see
// gpu/swiftshader-env.ts), with model arguments that may also be local folders. The device is
// made on first use and destroyed by dispose(). Checkpoints go to folders on disk:
//
//   const out = checkpointFolders('runs/a');
//   await engine.train(data, config, {}, { checkpoint: { every: 100, write: out } });   // runs/a/checkpoint-100/, ...
//   await engine.train(data, undefined, {}, { resumeFrom: folderSource('runs/a/checkpoint-100') });
import { join } from 'node:path';
import { nodeGpu } from '../gpu/node.js';
import { SWIFTSHADER_HELP } from '../gpu/swiftshader-env.js';
import { writeFolderAtomic } from '../io/atomic-node.js';
import { resolveModelSource } from '../model/source-node.js';
import { Engine } from './engine.js';
import type { Files } from './types.js';

export async function createEngine(): Promise<Engine> {
  return new Engine({ gpu: await nodeGpu(), gpuHelp: SWIFTSHADER_HELP, resolvePath: (path) => resolveModelSource(path) });
}

/** The folder of the checkpoint after `step` steps: <dir>/checkpoint-<step>. */
export const checkpointFolder = (dir: string, step: number): string => join(dir, `checkpoint-${step}`);

/**
 * A TrainOptions.checkpoint.write for Node: each checkpoint is written to
 * checkpointFolder(dir, step), atomically (every file complete, or the folder as it was: never
 * half a checkpoint), and resolves with that folder.
 */
export function checkpointFolders(dir: string): (files: Files, step: number) => Promise<string> {
  return async (files, step) => {
    const folder = checkpointFolder(dir, step);
    await writeFolderAtomic(folder, files);
    return folder;
  };
}
