// Node-only additions to the public API: WebGPU through Dawn, and model folders on disk.
export * from './index.js';
export { acquireNodeDevice, nodeGpu } from './gpu/node.js';
export { folderSource, resolveModelSource } from './model/source-node.js';
export { checkpointFolder, checkpointFolders, createEngine } from './engine/node-engine.js';
export { swiftShaderEnv } from './gpu/swiftshader-env.js';
export { writeFileAtomic, writeFileAtomicStream } from './io/atomic-node.js';
export { startServer, type ServerOptions, type RunningServer } from './serve/server.js';
export type { ServedModel } from './serve/complete.js';
