import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { swiftShaderEnv } from './src/gpu/swiftshader-env.js';
import { SlowestFirst } from './test/setup/sequencer.js';

// Tests run in forked Node processes that inherit this environment. Where the machine has no
// Vulkan driver of its own, SwiftShader (shipped in Debian's chromium package) is selected
// here, before any fork starts, because the dynamic loader reads LD_LIBRARY_PATH only at start-up.
if (!process.env.WEBGPU_LORA_HARDWARE_GPU) Object.assign(process.env, swiftShaderEnv() ?? {});

// Two projects, run one after the other by `npm test`: 'unit' (everything in Node, files in
// parallel) and 'e2e' (headless Chromium, one file at a time, so that the browser's main thread
// is measured without other test files competing for the CPU).
//
// 'unit' runs at least two files at once: vitest's default, one worker per core but one, is a
// single worker on a 2-core machine, where one test file keeps 1.1 to 1.7 cores busy (its GPU work
// on SwiftShader, the CPU driver, included), measured. The slowest files start first
// (test/setup/sequencer.ts), so that no long file is left running alone at the end.
// Bundles that tests run (dist/cli, dist/bench, dist/demo, dist/widget) are built by the tests
// that need them whenever their sources changed (test/setup/dist.ts), not before the run.
const workers = Math.max(Math.min(2, availableParallelism()), availableParallelism() - 1);

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: workers, // (--maxWorkers or VITEST_MAX_WORKERS override it; 'e2e' runs one file at a time)
    sequence: { sequencer: SlowestFirst },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false } },
    ],
  },
});
