// Node-only additions to the public API: WebGPU through Dawn, and model folders on disk.
export * from './index.js';
export { acquireNodeDevice, nodeGpu } from './gpu/node.js';
export { folderSource } from './model/source-node.js';
export { swiftShaderEnv } from './gpu/swiftshader-env.js';
