// WebGPU in Node through Dawn (the `webgpu` npm package). Kept apart from device.ts so that
// browser bundles never import it.
import { acquireDevice, type GpuContext } from './device.js';
import { SWIFTSHADER_HELP } from './swiftshader-env.js';

let dawn: GPU | undefined;

/** The process-wide Dawn GPU object; its globals (GPUBufferUsage, ...) are installed on first use. */
export async function nodeGpu(): Promise<GPU> {
  if (!dawn) {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    dawn = create([]) as GPU;
  }
  return dawn;
}

/** A device on the best adapter Dawn finds, or an error saying how to get a Vulkan driver. */
export async function acquireNodeDevice(): Promise<GpuContext> {
  return acquireDevice(await nodeGpu(), SWIFTSHADER_HELP);
}
