// The kernel policy of a device: the few facts about it that decide which kernel variant every
// launch takes, worked out once when the device is acquired (device.ts sets GpuContext.policy)
// and read by each kernel family's select function (never re-derived at launch sites):
//   matmuls: selectMatmulForward, selectMatmulInputGrad, selectMatmulWeightGrad and their split
//     counts (kernels/matmul/select.ts);
//   attention: selectAttention (kernels/attention.ts);
//   row reductions: selectRowReduction (below; RMSNorm, cross-entropy, the gradient norm).
// Tests inject a policy (test/helpers.ts withPolicy) to run the other path's kernels on the
// device they have; test/gpu/kernel-policy.test.ts lists (policy, shape) → kernel for every family.
//
// Why barrier-free: workgroup barriers are slow on CPU Vulkan drivers. SwiftShader runs a
// workgroup's invocations as coroutines and switches between them at every barrier, so the
// 64 × 64 tiled matmuls (which stage slices through workgroup memory with two barriers per
// slice) spend most of their time switching. There the barrier-free register-tiled kernels (each
// invocation a 4 × 4 block read straight from storage, vec4 loads) are 3 to 50 times faster at the
// shapes of LoRA training (M = B·T of 64 to 512, N and K of 16 to 512); likewise the row
// reductions sum serially in one invocation instead of tree-adding through workgroup memory.
// Real GPUs keep the tiled and tree-reduction kernels, whose shared staging is what makes them
// fast there.
//
// Why subgroup attention only with tiled kernels: SwiftShader's subgroups are its 4-wide SIMD
// vectors, which the per-row attention kernels already fill with 4 rows; split over the head
// instead, every lane repeats its row's per-key softmax work and subgroupAdd adds shuffles.
// Measured there, ms per call, per-row vs subgroup, median of 5 runs (2 shared cores):
//   stories260K (HS 8, NH 8, KV 4), B x T = 8 x 64: forward 33.8 vs 55.7, dq 42.5 vs 69.3,
//     dk/dv 59.9 vs 89.4; 2 x 32: forward 2.1 vs 4.3, dq 3.4 vs 6.4, dk/dv 3.0 vs 6.4.
//   HS 64 (NH 4, KV 2), 1 x 64: forward 13.6 vs 15.5, dq 17.5 vs 18.9, dk/dv 29.6 vs 26.0;
//     2 x 32: forward 9.0 vs 8.3, dq 9.9 vs 10.3, dk/dv 13.2 vs 13.6.
// Real GPUs take them: one invocation per row leaves most of a large GPU idle at training shapes
// (SmolLM2-135M at 8 x 256 has 6,144 key rows, each a serial loop of ~200k multiply-adds).

export interface KernelPolicy {
  /**
   * 'barrier-free': register-tiled matmuls and serial row reductions without workgroup barriers
   * (CPU Vulkan drivers such as SwiftShader). 'tiled': workgroup-tiled matmuls, tree reductions,
   * split sums and subgroup attention (GPUs).
   */
  kernels: 'barrier-free' | 'tiled';
  /** Workgroup memory per workgroup, bytes (maxComputeWorkgroupStorageSize). */
  workgroupBytes: number;
  /** Invocations per workgroup (maxComputeInvocationsPerWorkgroup). */
  workgroupInvocations: number;
  /**
   * The smallest subgroup size the device may run with, where it has subgroups and the WGSL
   * subgroup_id builtins (taken as WebGPU's smallest, 4, when the adapter does not report it);
   * 0 where it lacks either.
   */
  subgroupSize: number;
  /** One line saying why the policy is what it is (the CLI's `info` prints it). */
  reason: string;
}

/** What the policy is worked out from: the adapter's identity, the features and the limits the device got. */
export interface PolicyInputs {
  adapterInfo: { vendor: string; architecture: string; device: string; description: string; subgroupMinSize: number };
  features: { subgroupId: boolean };
  limits: Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup'>;
}

/** True for a CPU Vulkan driver (SwiftShader), named in any of the adapter's identity strings. */
export function isCpuDriver(a: PolicyInputs['adapterInfo']): boolean {
  return [a.vendor, a.architecture, a.device, a.description].some((s) => s.toLowerCase().includes('swiftshader'));
}

/** The policy of a device (see the header). */
export function devicePolicy({ adapterInfo, features, limits }: PolicyInputs): KernelPolicy {
  const cpu = isCpuDriver(adapterInfo);
  return {
    kernels: cpu ? 'barrier-free' : 'tiled',
    workgroupBytes: limits.maxComputeWorkgroupStorageSize,
    workgroupInvocations: limits.maxComputeInvocationsPerWorkgroup,
    subgroupSize: features.subgroupId ? adapterInfo.subgroupMinSize || 4 : 0,
    reason: cpu ? 'a CPU Vulkan driver (SwiftShader): barrier-free kernels' : 'a GPU: workgroup-tiled kernels',
  };
}

/** A kernel choice: the spec to launch and one line saying why it was chosen. */
export interface Selection<K> {
  kernel: K;
  reason: string;
}

/**
 * Row reductions (RMSNorm, cross-entropy, the gradient norm): one invocation per row summing
 * serially where barriers are slow, else one workgroup per row tree-adding through workgroup memory.
 */
export function selectRowReduction<K>(policy: KernelPolicy, variants: { perRow: K; workgroup: K }): Selection<K> {
  return policy.kernels === 'barrier-free'
    ? { kernel: variants.perRow, reason: 'barrier-free device: one invocation per row, serial sum' }
    : { kernel: variants.workgroup, reason: 'one workgroup per row, tree sum in workgroup memory' };
}
