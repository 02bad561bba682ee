import { defineConfig } from 'vitest/config';
import { swiftShaderEnv } from './src/gpu/swiftshader-env.js';

// Tests run in forked Node processes that inherit this environment. Where the machine has no
// Vulkan driver of its own, SwiftShader (shipped in Debian's chromium package) is selected
// here, before any fork starts, because the dynamic loader reads LD_LIBRARY_PATH only at start-up.
if (!process.env.WEBGPU_LORA_HARDWARE_GPU) Object.assign(process.env, swiftShaderEnv() ?? {});

// Two projects, run one after the other by `npm test`: 'unit' (everything in Node, files in
// parallel) and 'e2e' (headless Chromium, one file at a time, so that the browser's main thread
// is measured without other test files competing for the CPU).
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false } },
    ],
  },
});
