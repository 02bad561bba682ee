// Acquire a GPUDevice from any WebGPU implementation: `navigator.gpu` in a browser, or the GPU
// object that the `webgpu` npm package (Dawn) creates in Node (see ./node.ts).
//
// The engine asks for the largest storage-buffer and workgroup limits the adapter offers and for
// the optional features it can use; which of them it got is recorded in `GpuContext.features`,
// and the kernel variants the device takes in `GpuContext.policy` (./policy.ts).
import { devicePolicy, type KernelPolicy } from './policy.js';

export interface GpuFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  /**
   * The WGSL `subgroup_id` and `num_subgroups` builtins: the device has 'subgroups' and the WGSL
   * implementation lists the `subgroup_id` language feature (gpu.wgslLanguageFeatures).
   */
  subgroupId: boolean;
}

export interface GpuContext {
  device: GPUDevice;
  /**
   * subgroupMinSize / subgroupMaxSize: the range of subgroup sizes the adapter may use (WebGPU:
   * 4 to 128, powers of two), or 0 where adapter.info does not say.
   */
  adapterInfo: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    subgroupMinSize: number;
    subgroupMaxSize: number;
  };
  features: GpuFeatures;
  limits: GPUSupportedLimits;
  /** Which kernel variants this device takes, worked out once from the above (./policy.ts). */
  policy: KernelPolicy;
}

export class WebGpuUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGpuUnavailableError';
  }
}

/**
 * The GPU device was lost (destroyed, a driver reset, the GPU process gone) during an operation;
 * its message starts "the GPU device was lost" (which also survives a worker boundary, where the
 * class does not).
 */
export class DeviceLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceLostError';
  }
}

/** How `ctx`'s device was lost, if it is lost or becomes lost within `ms` milliseconds; null otherwise. */
export function deviceLostWithin(ctx: GpuContext, ms: number): Promise<GPUDeviceLostInfo | null> {
  return Promise.race([ctx.device.lost, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))]);
}

export const BROWSER_HELP =
  'WebGPU is needed: use a current Chrome or Edge (WebGPU is on by default on Windows, macOS, ' +
  'ChromeOS and Android; on Linux start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan), ' +
  'Safari 26 or later, or Firefox 141 or later on Windows. The page must be served over https or from localhost.';

/** The limits the engine raises to the adapter's maximum when the adapter allows more than the default. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

const OPTIONAL_FEATURES: Array<[GPUFeatureName, keyof GpuFeatures]> = [
  ['shader-f16', 'shaderF16'],
  ['subgroups' as GPUFeatureName, 'subgroups'],
  ['timestamp-query', 'timestampQuery'],
];

/**
 * Request an adapter and a device from `gpu`. Throws WebGpuUnavailableError with `help` appended
 * when there is no WebGPU implementation or no adapter.
 */
export async function acquireDevice(
  gpu: GPU | undefined,
  help: string = BROWSER_HELP,
  powerPreference: GPUPowerPreference = 'high-performance',
): Promise<GpuContext> {
  if (!gpu) throw new WebGpuUnavailableError(`This environment has no WebGPU. ${help}`);
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) throw new WebGpuUnavailableError(`WebGPU found no GPU adapter. ${help}`);

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name] as number;
  const requiredFeatures = OPTIONAL_FEATURES.filter(([f]) => adapter.features.has(f)).map(([f]) => f);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  device.addEventListener?.('uncapturederror', (e) => {
    console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });

  const features = {} as GpuFeatures;
  for (const [f, key] of OPTIONAL_FEATURES) features[key] = device.features.has(f);
  features.subgroupId = features.subgroups && (gpu.wgslLanguageFeatures?.has('subgroup_id') ?? false);
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const adapterInfo = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
  };
  return { device, adapterInfo, features, limits: device.limits, policy: devicePolicy({ adapterInfo, features, limits: device.limits }) };
}

/** A short human-readable description of the adapter, its features and the limits that matter here. */
export function describeGpu(ctx: GpuContext): string {
  const { adapterInfo: a, features: f, limits: l } = ctx;
  const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ') || '(unnamed adapter)';
  const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
  return [
    `adapter: ${name}`,
    `features: shader-f16 ${f.shaderF16 ? 'yes' : 'no'}, subgroups ${f.subgroups ? 'yes' : 'no'}, timestamp-query ${f.timestampQuery ? 'yes' : 'no'}`,
    ...(f.subgroups
      ? [`subgroups: sizes ${a.subgroupMinSize || '?'}..${a.subgroupMaxSize || '?'}, subgroup_id builtins ${f.subgroupId ? 'yes' : 'no'}`]
      : []),
    `maxBufferSize: ${mib(l.maxBufferSize)}`,
    `maxStorageBufferBindingSize: ${mib(l.maxStorageBufferBindingSize)}`,
    `maxComputeWorkgroupStorageSize: ${l.maxComputeWorkgroupStorageSize} bytes`,
    `maxComputeInvocationsPerWorkgroup: ${l.maxComputeInvocationsPerWorkgroup}`,
    `maxStorageBuffersPerShaderStage: ${l.maxStorageBuffersPerShaderStage}`,
    `kernels: ${ctx.policy.reason}`,
  ].join('\n');
}
