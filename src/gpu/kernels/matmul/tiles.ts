// The tile geometry of the matmul kernels, written once: how much of the output each workgroup or
// invocation computes, what shapes each kernel takes, and the workgroup grids that cover an
// output. The .wgsl files state the same sizes as constants where WGSL needs them at compile time
// (array sizes, loop bounds); test/kernels/matmul-tiles.test.ts checks that they agree.
//
// The kernels, by tiling (the kernel names say it):
//   matmul_tile128_*          128 × 128 output tile per workgroup of 16 × 16, 8 × 8 register blocks,
//                             k-major double-buffered workgroup slices (GPUs, large products);
//   matmul_tile64_*           64 × 64 output tile per workgroup of 16 × 16, 4 × 4 register blocks,
//                             slices staged through workgroup memory (GPUs);
//   matmul_reg4x4_*           one 4 × 4 output block per invocation, read straight from storage as
//                             vec4 values, no workgroup memory (barrier-free; rows of a multiple of 4);
//   matmul_reg4x4_scalar_*    the same blocks with scalar loads (any row length; few-row products);
//   matmul_tile16x128_weight_grad  16 × 128 tiles of a thin weight gradient, rows split over workgroups.
import type { KernelPolicy } from '../../policy.js';

/** Output rows and columns per workgroup of the matmul_tile64 kernels. */
export const TILE64 = 64;
/** Output rows and columns per workgroup of the matmul_tile128 kernels. */
export const TILE128 = 128;
/** Output rows and columns per invocation of the matmul_reg4x4 kernels. */
export const REG_BLOCK = 4;
/** Invocations per workgroup of the matmul_reg4x4 kernels (one dimension). */
export const REG_WORKGROUP = 64;
/** Invocations per workgroup of the tiled kernels: 16 × 16. */
export const TILED_WORKGROUP = 256;
/** On GPUs, products of at most this many rows (decoding) go to the matmul_reg4x4_scalar kernels. */
export const FEW_ROWS = 8;
/** Products at least this large on both output sides go to the 128 × 128 tiles on GPUs. */
export const TILE128_MIN_SIDE = 256;
/** Workgroup memory of either tile128 kernel: two copies of two 16 × 128 slices of f32 (32 KiB). */
export const TILE128_WORKGROUP_BYTES = 2 * 2 * 16 * 128 * 4;

const MAX_GROUPS = 65535;

/**
 * Workgroups (x, y, z) covering a rows × cols output with tile × tile workgroup tiles: x walks the
 * column tiles, y·z the row tiles. The row tiles are split over z only when there are more than
 * 65535 of them; the shaders read the row tile as workgroup_id.y + workgroup_id.z ·
 * num_workgroups.y and skip the few past the last.
 */
export function tileGrid(kernel: string, rows: number, cols: number, tile: number): [number, number, number] {
  const colTiles = Math.max(1, Math.ceil(cols / tile));
  const rowTiles = Math.max(1, Math.ceil(rows / tile));
  if (colTiles > MAX_GROUPS) throw new Error(`${kernel}: ${cols} columns need ${colTiles} column tiles, more than ${MAX_GROUPS}`);
  if (rowTiles <= MAX_GROUPS) return [colTiles, rowTiles, 1];
  const z = Math.ceil(rowTiles / MAX_GROUPS);
  return [colTiles, Math.ceil(rowTiles / z), z];
}

/** The 64 × 64 grid of a rows × cols output. */
export const tile64Grid = (rows: number, cols: number) => tileGrid('matmul_tile64', rows, cols, TILE64);
/** The 128 × 128 grid of a rows × cols output. */
export const tile128Grid = (rows: number, cols: number) => tileGrid('matmul_tile128', rows, cols, TILE128);

/** Invocations of a reg4x4 kernel for a rows × cols output: one per 4 × 4 block. */
export const reg4x4Blocks = (rows: number, cols: number) => Math.ceil(rows / REG_BLOCK) * Math.ceil(cols / REG_BLOCK);

const multipleOf4 = (x: number) => x > 0 && x % 4 === 0;

/** Whether matmul_tile128_forward takes these dimensions (K a positive multiple of 4). */
export const tile128ForwardSupports = (d: { K: number }): boolean => multipleOf4(d.K);

/**
 * Whether matmul_tile128_backward takes these dimensions: N and K positive multiples of 4, and
 * dout's rows at whole vec4s where it is a column block (ld and col0 multiples of 4).
 */
export const tile128BackwardSupports = (d: { N: number; K: number; ld?: number; col0?: number }): boolean =>
  multipleOf4(d.N) && multipleOf4(d.K) && (d.ld ?? d.N) % 4 === 0 && (d.col0 ?? 0) % 4 === 0;

/**
 * Whether a device with this policy can run the tile128 kernels: 256 invocations and 32 KiB of
 * workgroup memory per workgroup (WebGPU guarantees only 16 KiB; most GPUs offer 32 KiB or more,
 * and acquireDevice asks for the adapter's maximum).
 */
export const tile128Fits = (policy: KernelPolicy): boolean =>
  policy.kernels === 'tiled' && policy.workgroupBytes >= TILE128_WORKGROUP_BYTES && policy.workgroupInvocations >= TILED_WORKGROUP;

/** Whether a GPU's forward x·Wᵀ of these dimensions goes to matmul_tile128_forward. */
export const useTile128Forward = (policy: KernelPolicy, d: { M: number; N: number; K: number }): boolean =>
  tile128Fits(policy) && tile128ForwardSupports(d) && d.M >= TILE128_MIN_SIDE && d.N >= TILE128_MIN_SIDE;

/** Whether a GPU's input gradient dy·W of these dimensions goes to matmul_tile128_backward. */
export const useTile128Backward = (policy: KernelPolicy, d: { M: number; N: number; K: number; ld?: number; col0?: number }): boolean =>
  tile128Fits(policy) && tile128BackwardSupports(d) && d.M >= TILE128_MIN_SIDE && d.K >= TILE128_MIN_SIDE;
