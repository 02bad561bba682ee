// What `import('webgpu')` gives inside the benchmark bundle (vite.bench.config.ts aliases the
// package to this file): Dawn's binding from $DAWN_NODE where .gpu/setup.sh (../shared/gpu/prepare.sh)
// set it, on a GPU machine without node_modules; else the `webgpu` package, loaded from
// node_modules at run time. Both export { create, globals }.
import { createRequire } from 'node:module';

interface Dawn {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

const packageName = 'webgpu'; // a variable, so the bundler leaves this import to Node
const path = process.env.DAWN_NODE;
const dawn: Dawn = path ? createRequire(import.meta.url)(path) : await import(/* @vite-ignore */ packageName);

export const create = dawn.create;
export const globals = dawn.globals;
