// Builds the benchmark (bench/run.ts) into ONE file, dist/bench/bench.mjs, that runs with Node
// alone: every dependency (tfjs included) and the WGSL sources are bundled. The one exception is
// Dawn's native binding: `webgpu` resolves to bench/dawn.ts, which loads $DAWN_NODE (a GPU machine
// set up by ../shared/gpu/prepare.sh's .gpu/setup.sh) or the webgpu package from node_modules.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  resolve: { alias: [{ find: /^webgpu$/, replacement: resolve(import.meta.dirname, 'bench/dawn.ts') }] },
  ssr: { noExternal: true, target: 'node' },
  build: {
    ssr: 'bench/run.ts',
    outDir: 'dist/bench',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: false,
    rolldownOptions: { output: { entryFileNames: 'bench.mjs', codeSplitting: false } },
  },
});
