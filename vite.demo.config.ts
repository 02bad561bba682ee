// The demo page: `npm run demo` serves it (Vite dev server), `npm run build:demo` builds it into
// dist/demo/ (the engine worker as its own module, demo/public/sw.js copied as is). The build also
// writes precache.json, the list of every file it emitted, which the service worker stores on
// install so that the page works offline after one visit.
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

function precacheList(): Plugin {
  return {
    name: 'precache-list',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((f) => !f.endsWith('.map')).sort();
      this.emitFile({ type: 'asset', fileName: 'precache.json', source: `${JSON.stringify(files, null, 1)}\n` });
    },
  };
}

export default defineConfig({
  root: resolve(import.meta.dirname, 'demo'),
  base: './',
  worker: { format: 'es' },
  plugins: [precacheList()],
  build: {
    outDir: resolve(import.meta.dirname, 'dist/demo'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 2048,
  },
});
