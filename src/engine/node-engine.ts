// The engine in Node: in-process, on Dawn (SwiftShader where the machine has no GPU driver; see
// gpu/swiftshader-env.ts), with model arguments that may also be local folders.
import { acquireNodeDevice } from '../gpu/node.js';
import { resolveModelSource } from '../model/source-node.js';
import { Engine } from './engine.js';

export async function createEngine(): Promise<Engine> {
  return new Engine({ ctx: await acquireNodeDevice(), resolvePath: (path) => resolveModelSource(path), ownsDevice: true });
}
