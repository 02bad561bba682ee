// Which matmul kernel runs, from the device's kernel policy (../../policy.ts) and the dimensions:
// one select function per operation, each returning the kernel's name and a one-line reason. The
// launchers (forward.ts, backward.ts, weight-grad.ts) map the name to the kernel; the table test
// (test/gpu/kernel-policy.test.ts) lists (policy, shape) → kernel for every family. No WGSL here.
//   forward   out = x·Wᵀ                  selectMatmulForward
//   backward  dx (+)= dy·W                selectMatmulInputGrad, backwardSplits (the LM head's long N)
//   weight    dW (+)= dyᵀ·x (LoRA's A, B)  selectMatmulWeightGrad (with weightGradSplits)
// Where barriers are slow (a barrier-free policy) every product takes the reg4x4 kernels, vec4
// loads where the rows allow it; GPUs take the 128 × 128 tiles for large products, the 64 × 64
// tiles for other many-row ones and the scalar reg4x4 kernels for at most FEW_ROWS rows.
import type { KernelPolicy, Selection } from '../../policy.js';
import { FEW_ROWS, TILE128_MIN_SIDE, TILE64, tile128Grid, useTile128Backward, useTile128Forward } from './tiles.js';
import { weightGradSplits } from './weight-grad-split.js';

export type MatmulForwardKernelName = 'matmul_tile128_forward' | 'matmul_tile64_forward' | 'matmul_reg4x4_forward' | 'matmul_reg4x4_scalar_forward';
export type MatmulBackwardKernelName = 'matmul_tile128_backward' | 'matmul_tile64_backward' | 'matmul_reg4x4_backward' | 'matmul_reg4x4_scalar_backward';
export type MatmulWeightGradKernelName = 'matmul_tile16x128_weight_grad' | 'matmul_tile64_weight_grad' | 'matmul_reg4x4_weight_grad';

/** The kernel out = inp·weightᵀ takes on a device with this policy at these dimensions. */
export function selectMatmulForward(policy: KernelPolicy, { M, N, K }: { M: number; N: number; K: number }): Selection<MatmulForwardKernelName> {
  if (policy.kernels === 'barrier-free') {
    return K % 4 === 0 && K > 0
      ? { kernel: 'matmul_reg4x4_forward', reason: 'barrier-free device, K a multiple of 4: 4 × 4 register blocks, vec4 loads' }
      : { kernel: 'matmul_reg4x4_scalar_forward', reason: 'barrier-free device, K not a multiple of 4: 4 × 4 register blocks, scalar loads' };
  }
  if (useTile128Forward(policy, { M, N, K })) return { kernel: 'matmul_tile128_forward', reason: `both output sides at least ${TILE128_MIN_SIDE}: 128 × 128 workgroup tiles` };
  return M <= FEW_ROWS
    ? { kernel: 'matmul_reg4x4_scalar_forward', reason: `at most ${FEW_ROWS} rows: 4 × 4 register blocks, no workgroup memory` }
    : { kernel: 'matmul_tile64_forward', reason: '64 × 64 workgroup tiles' };
}

/**
 * The kernel dinp (+)= dout·weight takes on a device with this policy at these dimensions (the
 * unsplit product; backwardSplits says when a GPU splits it). vec4Operands: whether the launch has
 * an operand of at least one vec4 (16 bytes) for the vec4 slots it leaves unread (a tiny f16
 * weight with a tiny dout has none; default true). ld / col0: dout as a column block (params.ts
 * ColumnBlock); the 128 × 128 tiles read its rows as vec4s, so they need both multiples of 4.
 */
export function selectMatmulInputGrad(
  policy: KernelPolicy,
  { M, N, K, ld, col0, vec4Operands = true }: { M: number; N: number; K: number; ld?: number; col0?: number; vec4Operands?: boolean },
): Selection<MatmulBackwardKernelName> {
  if (policy.kernels === 'barrier-free') {
    return K % 4 === 0 && N > 0 && vec4Operands
      ? { kernel: 'matmul_reg4x4_backward', reason: 'barrier-free device, K a multiple of 4: 4 × 4 register blocks, vec4 loads' }
      : { kernel: 'matmul_reg4x4_scalar_backward', reason: 'barrier-free device, K not a multiple of 4 (or N = 0, or a tiny f16 weight): 4 × 4 register blocks, scalar loads' };
  }
  if (useTile128Backward(policy, { M, N, K, ld, col0 })) return { kernel: 'matmul_tile128_backward', reason: `M and K at least ${TILE128_MIN_SIDE}: 128 × 128 workgroup tiles` };
  return M <= FEW_ROWS
    ? { kernel: 'matmul_reg4x4_scalar_backward', reason: `at most ${FEW_ROWS} rows: 4 × 4 register blocks, no workgroup memory` }
    : { kernel: 'matmul_tile64_backward', reason: '64 × 64 workgroup tiles' };
}

/** The shortest slice of n that backwardSplits gives a workgroup. */
export const MIN_N_PER_SPLIT = 512;

/** n per slice for S slices: ⌈N / S⌉ rounded up to matmul_tile64_backward's staging step of 32. */
export const nPerSplit = (N: number, S: number): number => Math.ceil(N / S / 32) * 32;

/**
 * How many slices of n matmulBackward splits dinp (+)= dout·weight into on this device, with at
 * most `scratchElements` f32 of partials (S·M·K); 1: no split. Real GPUs, more than FEW_ROWS rows,
 * and only when the unsplit grid leaves a large GPU mostly idle (fewer than 128 workgroups, with
 * the 128 × 128 tiles where they would run, else the 64 × 64 ones) while the reduction is long (at
 * least 2 · MIN_N_PER_SPLIT): the LM head's dh = dlogits·E, 256 rows of logits by SmolLM2's
 * C = 576 are 10 workgroups of 128 × 128, each summing 49,152 products per output. The split runs
 * matmul_tile64_backward with S ≈ 256 workgroups / its tiles, each slice at least MIN_N_PER_SPLIT
 * long (a first estimate, to be tuned on the GPU machine).
 */
export function backwardSplits(policy: KernelPolicy, d: { M: number; N: number; K: number; ld?: number; col0?: number }, scratchElements: number): number {
  const { M, N, K } = d;
  if (policy.kernels === 'barrier-free' || M <= FEW_ROWS || K === 0) return 1;
  const [colTiles, rowTiles] = [Math.ceil(K / TILE64), Math.ceil(M / TILE64)];
  const unsplit = useTile128Backward(policy, d) ? tile128Grid(M, K).reduce((a, b) => a * b) : colTiles * rowTiles;
  if (unsplit >= 128 || rowTiles > 65535) return 1;
  const S = Math.min(Math.round(256 / (colTiles * rowTiles)), Math.floor(N / MIN_N_PER_SPLIT), Math.floor(scratchElements / (M * K)), 65535);
  if (S < 2) return 1;
  return Math.ceil(N / nPerSplit(N, S)); // no empty slices once the slice is rounded to 32
}

/**
 * The kernel dweight (+)= doutᵀ·inp takes on a device with this policy at these dimensions, with
 * `scratchElements` f32 of partials lent for a split over the rows (0: none lent).
 */
export function selectMatmulWeightGrad(
  policy: KernelPolicy,
  { M, N, K }: { M: number; N: number; K: number },
  scratchElements = 0,
): Selection<MatmulWeightGradKernelName> & { splits: number } {
  const splits = scratchElements > 0 ? weightGradSplits(policy, { M, N, K }, scratchElements) : 1;
  if (splits > 1) return { kernel: 'matmul_tile16x128_weight_grad', splits, reason: `a thin gradient with few output tiles: the ${M} rows split in ${splits} chunks, then a fixed-order sum` };
  if (policy.kernels === 'barrier-free' && N % 4 === 0 && K % 4 === 0 && M > 0) {
    return { kernel: 'matmul_reg4x4_weight_grad', splits, reason: 'barrier-free device, N and K multiples of 4: 4 × 4 register blocks, vec4 loads' };
  }
  return { kernel: 'matmul_tile64_weight_grad', splits, reason: policy.kernels === 'barrier-free' ? 'N or K not a multiple of 4 (or M = 0): 64 × 64 tiles' : '64 × 64 workgroup tiles, M walked in chunks of 32' };
}
