// Builds the Node CLI into dist/cli/main.js: WGSL files imported with `?raw` are inlined;
// dependencies stay external and load from node_modules.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    ssr: 'src/cli/main.ts',
    outDir: 'dist/cli',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: true,
  },
});
