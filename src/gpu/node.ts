// WebGPU in Node through Dawn (the `webgpu` npm package). Kept apart from device.ts so that
// browser bundles never import it.
import { acquireDevice, type GpuContext } from './device.js';
import { SWIFTSHADER_HELP } from './swiftshader-env.js';

let dawn: GPU | undefined;

/**
 * Dawn's options for this process. On SwiftShader (selected through VK_ICD_FILENAMES, see
 * ./swiftshader-env.ts), Dawn zeroes workgroup memory in the shader instead of through Vulkan's
 * VK_KHR_zero_initialize_workgroup_memory: the same guarantee, but SwiftShader compiles a
 * pipeline that zeroes through the extension in time proportional to its workgroup memory
 * (about 6 s for the 32 KiB of matmul_tile128_forward, 3 s for matmul_tile64_forward; 0.3 s without).
 * Real GPUs keep Dawn's defaults.
 */
export function dawnOptions(env: NodeJS.ProcessEnv = process.env): string[] {
  if (!(env.VK_ICD_FILENAMES ?? '').includes('swiftshader')) return [];
  return ['disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension'];
}

/** The process-wide Dawn GPU object; its globals (GPUBufferUsage, ...) are installed on first use. */
export async function nodeGpu(): Promise<GPU> {
  if (!dawn) {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    dawn = create(dawnOptions()) as GPU;
  }
  return dawn;
}

/** A device on the best adapter Dawn finds, or an error saying how to get a Vulkan driver. */
export async function acquireNodeDevice(): Promise<GpuContext> {
  return acquireDevice(await nodeGpu(), SWIFTSHADER_HELP);
}
