// Builds the embeddable <lora-trainer> widget into ONE ES module, dist/widget/lora-trainer.js:
// the engine worker is inlined (`?worker&inline` in demo/widget/lora-trainer.ts), WGSL `?raw`
// imports are strings, and code splitting is off, so a page needs nothing but that file. The
// example page (with its stylesheet and script) and its data are copied next to it.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const widgetDir = resolve(import.meta.dirname, 'demo/widget');
const outDir = resolve(import.meta.dirname, 'dist/widget');

/** Copies the example page and its dataset into the output folder once the bundle is written. */
function copyExample(files: string[]): Plugin {
  return {
    name: 'lora-trainer-example',
    apply: 'build',
    writeBundle() {
      mkdirSync(outDir, { recursive: true });
      for (const f of files) copyFileSync(join(widgetDir, f), join(outDir, f));
    },
  };
}

export default defineConfig({
  publicDir: false,
  // Library mode leaves process.env alone (for Node consumers); this file only runs in browsers.
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  worker: { format: 'es' },
  plugins: [copyExample(['example.html', 'example.css', 'example.js', 'example-data.jsonl'])],
  build: {
    lib: {
      entry: join(widgetDir, 'lora-trainer.ts'),
      formats: ['es'],
      fileName: () => 'lora-trainer.js',
    },
    outDir,
    emptyOutDir: true,
    minify: true,
    sourcemap: false,
    target: 'es2022',
    // One file. And full minification: library mode keeps whitespace for ES output (so that a
    // bundler downstream can tree-shake), but this file goes straight into a page's script tag.
    rolldownOptions: { output: { codeSplitting: false, minify: true } },
  },
});
