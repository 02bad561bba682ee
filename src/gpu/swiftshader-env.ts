// SwiftShader: the CPU Vulkan driver inside Debian's chromium package. Dawn (the `webgpu` npm
// package) needs a Vulkan loader and driver; on a machine without a GPU this pair provides both.
// The environment must be in place when the Node process starts (LD_LIBRARY_PATH is read by the
// dynamic loader only then), so callers pass it to a child process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SWIFTSHADER_DIR = '/usr/lib/chromium';
export const SWIFTSHADER_ICD = `${SWIFTSHADER_DIR}/vk_swiftshader_icd.json`;

/** The environment that points Dawn at SwiftShader, or null when chromium's driver is absent. */
export function swiftShaderEnv(): Record<string, string> | null {
  if (!existsSync(SWIFTSHADER_ICD)) return null;
  const runtimeDir = join(tmpdir(), `webgpu-lora-xdg-${process.getuid?.() ?? 0}`);
  mkdirSync(runtimeDir, { recursive: true });
  chmodSync(runtimeDir, 0o700);
  const libraryPath = [SWIFTSHADER_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return { VK_ICD_FILENAMES: SWIFTSHADER_ICD, LD_LIBRARY_PATH: libraryPath, XDG_RUNTIME_DIR: runtimeDir };
}

export const SWIFTSHADER_HELP =
  'Dawn needs a Vulkan driver. On a machine with a GPU, install its Vulkan driver (NVIDIA: the ' +
  'proprietary driver; AMD/Intel: mesa-vulkan-drivers) and libvulkan1. On a machine without a GPU, ' +
  'install Debian\'s chromium package and run with ' +
  `VK_ICD_FILENAMES=${SWIFTSHADER_ICD} LD_LIBRARY_PATH=${SWIFTSHADER_DIR} XDG_RUNTIME_DIR=<a 0700 folder> ` +
  '(SwiftShader, a CPU Vulkan driver: correct but slow). The webgpu-lora CLI does this by itself ' +
  'when it finds no GPU adapter.';

/**
 * Whether the dynamic loader can find a Vulkan loader (libvulkan.so.1) for Dawn: in
 * LD_LIBRARY_PATH or in the system's library cache. Linux only; elsewhere Dawn uses other APIs.
 */
export function hasVulkanLoader(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  if (dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')))) return true;
  const cache = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  if (cache.status === 0) return /\blibvulkan\.so\.1\b/.test(cache.stdout);
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) =>
    existsSync(join(d, 'libvulkan.so.1')),
  );
}
