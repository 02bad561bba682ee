// Which kernel variants a device gets: one explicit per-device policy, read by the launchers of
// the matmuls (matmul.ts, matmul-backward.ts), RMSNorm (rmsnorm.ts) and the gradient norm (adamw.ts).
//
// Workgroup barriers are slow on CPU Vulkan drivers: SwiftShader runs a workgroup's invocations
// as coroutines and switches between them at every barrier, so the 64 × 64 tiled kernels (which
// stage slices through workgroup memory with two barriers per slice) spend most of their time
// switching. There the barrier-free register-tiled kernels (each invocation a 4 × 4 block read
// straight from storage, vec4 loads) are 3 to 50 times faster at the shapes of LoRA training
// (M = B·T of 64 to 512, N and K of 16 to 512); likewise the row reductions (RMSNorm, the
// gradient norm) sum serially in one invocation instead of tree-adding through workgroup memory.
// Real GPUs keep the tiled and tree-reduction kernels, whose shared staging is what makes them
// fast there.
import type { GpuContext } from '../device.js';

/** True on CPU Vulkan drivers (SwiftShader): use the barrier-free kernel variants. */
export function preferBarrierFree(ctx: GpuContext): boolean {
  const a = ctx.adapterInfo;
  return [a.vendor, a.architecture, a.device, a.description].some((s) => s.toLowerCase().includes('swiftshader'));
}
