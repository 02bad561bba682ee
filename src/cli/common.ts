// What every CLI command shares: usage errors, option parsing, and the GPU device (with the
// SwiftShader fallback on machines without a GPU).
import { spawnSync } from 'node:child_process';
import { WebGpuUnavailableError, type GpuContext } from '../gpu/device.js';
import { acquireNodeDevice } from '../gpu/node.js';
import { hasVulkanLoader, swiftShaderEnv } from '../gpu/swiftshader-env.js';

/** A mistake in the command line: printed with the usage text, exit code 2. */
export class UsageError extends Error {}

export function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${value}'`);
  return n;
}

export function integerOption(value: string | undefined, name: string, fallback: number, min = 0): number {
  const n = numberOption(value, name, fallback);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${value}'`);
  return n;
}

/** --weights: how the model's large frozen matrices are stored on the GPU (default f32). */
export function weightsOption(value: string | undefined): 'f32' | 'f16' {
  const w = (value ?? 'f32').toLowerCase();
  if (w !== 'f32' && w !== 'f16') throw new UsageError(`--weights must be f32 or f16, got '${value}'`);
  return w;
}

/**
 * The GPU; or, where there is no Vulkan loader or no adapter and chromium's SwiftShader driver is
 * installed, a re-run of this process on SwiftShader (the environment must be set at start-up).
 */
export async function deviceOrRerun(): Promise<GpuContext> {
  const env = process.env.WEBGPU_LORA_SWIFTSHADER ? null : swiftShaderEnv();
  const rerun = (): never => {
    process.stderr.write('webgpu-lora: no GPU adapter found; running on SwiftShader (a CPU Vulkan driver: correct, slow)\n');
    const child = spawnSync(process.execPath, process.argv.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, ...env, WEBGPU_LORA_SWIFTSHADER: '1' },
    });
    process.exit(child.status ?? 1);
  };
  if (env && !hasVulkanLoader()) rerun();
  try {
    return await acquireNodeDevice();
  } catch (e) {
    if (e instanceof WebGpuUnavailableError && env) rerun();
    throw e;
  }
}
