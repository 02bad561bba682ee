import { defineConfig } from 'vitest/config';
import { swiftShaderEnv } from './src/gpu/swiftshader-env.js';

// Tests run in forked Node processes that inherit this environment. Where the machine has no
// Vulkan driver of its own, SwiftShader (shipped in Debian's chromium package) is selected
// here, before any fork starts, because the dynamic loader reads LD_LIBRARY_PATH only at start-up.
if (!process.env.WEBGPU_LORA_HARDWARE_GPU) Object.assign(process.env, swiftShaderEnv() ?? {});

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
