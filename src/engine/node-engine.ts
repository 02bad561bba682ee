// The engine in Node: in-process, on Dawn (SwiftShader where the machine has no GPU driver; see
// gpu/swiftshader-env.ts), with model arguments that may also be local folders. The device is
// made on first use and destroyed by dispose().
import { nodeGpu } from '../gpu/node.js';
import { SWIFTSHADER_HELP } from '../gpu/swiftshader-env.js';
import { resolveModelSource } from '../model/source-node.js';
import { Engine } from './engine.js';

export async function createEngine(): Promise<Engine> {
  return new Engine({ gpu: await nodeGpu(), gpuHelp: SWIFTSHADER_HELP, resolvePath: (path) => resolveModelSource(path) });
}
