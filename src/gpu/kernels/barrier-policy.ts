// Which kernel variants a device gets: one explicit per-device policy, read by the launchers of
// the matmuls (matmul.ts, matmul-backward.ts), RMSNorm (rmsnorm.ts), the gradient norm (adamw.ts)
// and attention (attention.ts, preferSubgroupAttention below).
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

/**
 * Whether attention (attention.ts) takes the subgroup kernels (attention_subgroup_*.wgsl: one
 * subgroup per row, its lanes splitting the head dimension) where the device has subgroups and
 * the subgroup_id builtins and the head fits the lanes. Real GPUs do: one invocation per row
 * leaves most of a large GPU idle at training shapes (SmolLM2-135M at 8 x 256 has 6,144 key rows
 * for the key gradients, each a serial loop of ~200k multiply-adds).
 * SwiftShader keeps the per-row kernels. Its subgroups are its 4-wide SIMD vectors, which the
 * per-row kernels already fill with 4 rows; split over the head instead, every lane repeats its
 * row's per-key softmax work (exp, rescaling) and subgroupAdd adds shuffles. Measured there, ms
 * per call, per-row vs subgroup, median of 5 runs (2 shared cores; runs vary by up to 2x):
 *   stories260K (HS 8, NH 8, KV 4), B x T = 8 x 64: forward 33.8 vs 55.7, dq 42.5 vs 69.3,
 *     dk/dv 59.9 vs 89.4 (all three 136 vs 214); 2 x 32: forward 2.1 vs 4.3, dq 3.4 vs 6.4,
 *     dk/dv 3.0 vs 6.4.
 *   HS 64 (NH 4, KV 2), 1 x 64: forward 13.6 vs 15.5, dq 17.5 vs 18.9, dk/dv 29.6 vs 26.0
 *     (61 vs 60); 2 x 32: forward 9.0 vs 8.3, dq 9.9 vs 10.3, dk/dv 13.2 vs 13.6 (32 vs 32).
 * The subgroup kernels lose by 1.6x at stories260K's head size and draw at HS 64.
 * Among the per-row kernels, heads that are a multiple of 4 up to 128 take the vec4 variants
 * (attention_vec4_*.wgsl, attentionVec4 in attention.ts), ms per call on SwiftShader, scalar vs
 * vec4 (one run of 20 launches each; runs vary): stories260K 2 x 32: forward 2.7 vs 0.9, dq 2.6
 * vs 0.6, dk/dv 3.8 vs 1.2; 8 x 64: forward 22.8 vs 9.0, dq 28.4 vs 8.2, dk/dv 40.9 vs 13.7;
 * HS 64 (NH 4, KV 2), 2 x 32: forward 5.0 vs 3.3, dq 6.1 vs 4.5, dk/dv 12.1 vs 6.2.
 */
export function preferSubgroupAttention(ctx: GpuContext): boolean {
  return ctx.features.subgroupId && !preferBarrierFree(ctx);
}
