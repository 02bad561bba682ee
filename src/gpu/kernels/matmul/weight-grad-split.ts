// The weight gradient of a Linear layer, dweight[N, K] (+)= scale · dout[M, N]ᵀ · inp[M, K], with
// the reduction over the M rows split across workgroups, for the thin gradients of LoRA on real
// GPUs: dA [R, K] += duᵀ·x and dB [N, R] += s·dyᵀ·u, R = 8..64, the other side 576..4864, M = B·T
// = 256..2048. matmul_tile64_weight_grad (weight-grad.ts) gives each 64 × 64 tile of dweight to one
// workgroup that walks all M rows: 9 workgroups for [16, 576], a large GPU almost idle. Here, in
// two launches and deterministically (no atomics):
//  - matmul_tile16x128_weight_grad: partials[s, n, k] = Σ_{m in chunk s} dout[m, n] · inp[m, k], chunk s
//    = rows [s·rowsPerSplit, min(M, (s+1)·rowsPerSplit)); 16 × 128 tiles oriented along the thin
//    side (see the shader), grid (tiles along K, tiles along N, S).
//  - matmul_split_reduce (split-reduce.ts): dweight = (accumulate ? dweight : 0) + scale ·
//    Σ_s partials[s], s in order, one invocation per element.
// partials is scratch of S·N·K f32 (splitPartialsElements) that the caller owns. weightGradSplits
// says how many splits a device should use for given dimensions (1: keep matmulWeightGrad).
import splitCode from '../../../../shaders/matmul_tile16x128_weight_grad.wgsl?raw';
import { composedKernel, type KernelSpec, type Recorder } from '../../kernel.js';
import type { KernelPolicy } from '../../policy.js';
import type { Tensor } from '../../tensor.js';
import { requireF32 } from '../weight-format.js';
import { MATMUL_PARAMS_PART, matmulParams } from './params.js';
import { reducePartials } from './split-reduce.js';
import { TILE64 } from './tiles.js';

/** Rows of M staged per step of matmul_tile16x128_weight_grad (TM in the shader): rowsPerSplit is a multiple. */
export const SPLIT_ROW_STEP = 16;
/** The tile of matmul_tile16x128_weight_grad: THIN outputs along the thin side of dweight, WIDE along the other. */
export const SPLIT_TILE_THIN = 16;
export const SPLIT_TILE_WIDE = 128;
const MAX_GROUPS = 65535;

export interface WeightGradSplitDims {
  M: number; // rows of dout and inp (B·T)
  N: number; // rows of dweight, columns of dout
  K: number; // columns of dweight and inp
  scale?: number; // multiplies the sum before it is added or stored; default 1
  accumulate?: boolean; // add to dweight instead of overwriting it; default false
  splits: number; // S ≥ 1, the number of row chunks (weightGradSplits)
}

/** What both kernels are launched with (defaults filled in, the chunk size and tile orientation chosen). */
export interface WeightGradSplitLaunch {
  M: number;
  N: number;
  K: number;
  scale: number;
  accumulate: boolean;
  splits: number;
  /** Rows per chunk: a positive multiple of SPLIT_ROW_STEP (splitRowsPerChunk). */
  rowsPerSplit: number;
  /** The tile's thin side runs along k (the K_THIN override), else along n (weightGradSplitKThin). */
  kThin: boolean;
}

/** Rows per chunk for S chunks of M rows: ⌈M / S⌉ rounded up to a multiple of SPLIT_ROW_STEP (at least one step). */
export function splitRowsPerChunk(M: number, S: number): number {
  return Math.max(1, Math.ceil(Math.ceil(M / S) / SPLIT_ROW_STEP)) * SPLIT_ROW_STEP;
}

const tilesAlong = (n: number, tile: number) => Math.max(1, Math.ceil(n / tile));

/** Pass-1 tiles of an [N, K] gradient in one orientation (thin side along k when kThin): [along K, along N]. */
const tileGrid = (N: number, K: number, kThin: boolean): [number, number] => [
  tilesAlong(K, kThin ? SPLIT_TILE_THIN : SPLIT_TILE_WIDE),
  tilesAlong(N, kThin ? SPLIT_TILE_WIDE : SPLIT_TILE_THIN),
];
const splitTiles = (N: number, K: number, kThin: boolean) => tileGrid(N, K, kThin)[0] * tileGrid(N, K, kThin)[1];

/** Whether the 16-wide side of the tile runs along k: the orientation with fewer tiles (along n on a tie). */
export const weightGradSplitKThin = (N: number, K: number): boolean => splitTiles(N, K, true) < splitTiles(N, K, false);

/** The full launch of dims (chunk size, and the orientation unless `kThin` is given). */
export function weightGradSplitLaunch(dims: WeightGradSplitDims, kThin = weightGradSplitKThin(dims.N, dims.K)): WeightGradSplitLaunch {
  const { M, N, K, splits } = dims;
  return { M, N, K, splits, scale: dims.scale ?? 1, accumulate: dims.accumulate ?? false, rowsPerSplit: splitRowsPerChunk(M, splits), kThin };
}

/**
 * matmul_tile16x128_weight_grad's workgroups: x = tiles along K, y = tiles along N, z = the chunk s.
 * Throws when one exceeds 65535.
 */
export function weightGradSplitGrid(d: WeightGradSplitLaunch): [number, number, number] {
  const [x, y] = tileGrid(d.N, d.K, d.kThin);
  if (x > MAX_GROUPS || y > MAX_GROUPS || d.splits > MAX_GROUPS) {
    throw new Error(
      `matmul_weight_grad_split: grid (${x}, ${y}, ${d.splits}) exceeds ${MAX_GROUPS} workgroups per dimension (M=${d.M} N=${d.N} K=${d.K} S=${d.splits})`,
    );
  }
  return [x, y, d.splits];
}

/** Pass 1: partials [S, N, K] from dout [M, N] and inp [M, K]. Bindings: partials, dout, inp. */
export const matmulWeightGradSplitKernel: KernelSpec<WeightGradSplitLaunch> = composedKernel(
  'matmul_tile16x128_weight_grad.wgsl',
  {
    name: 'matmul_tile16x128_weight_grad',
    code: splitCode,
    bindings: ['read_write', 'read', 'read'],
    constants: (d) => ({ K_THIN: d.kThin ? 1 : 0 }),
    params: (d) => matmulParams({ M: d.M, N: d.N, K: d.K, split: d.rowsPerSplit }),
    dispatch: weightGradSplitGrid,
  },
  MATMUL_PARAMS_PART,
);


/** Elements of the partials scratch for S splits of an [N, K] gradient: S·N·K. */
export const splitPartialsElements = (d: { N: number; K: number }, S: number): number => S * d.N * d.K;

/**
 * The policy's numbers, a first estimate: no GPU was available to measure them. The target is a
 * GPU of ~100–140 SMs (H100/H200: 132): ~256 pass-1 workgroups of 256 invocations are about two per
 * SM, enough to fill the machine and even out the tail. Splitting pays only while the unsplit
 * matmul_tile64_weight_grad leaves most SMs idle (< 128 workgroups) and there are rows enough to split
 * (M ≥ 256). A chunk of at least 64 rows (4 staged steps) keeps the extra traffic bounded: a
 * workgroup reads 64·(16 + 128) values and writes 16·128 partials that pass 2 reads back, so
 * splitting adds at most ~45% to pass 1's memory traffic (less with longer chunks).
 */
export const SPLIT_POLICY = {
  /** Split only when matmul_tile64_weight_grad would launch fewer workgroups than this. */
  maxUnsplitWorkgroups: 128,
  /** Split only with at least this many rows. */
  minRows: 256,
  /** Aim for about this many pass-1 workgroups (tiles × S). */
  targetWorkgroups: 256,
  /** Each chunk holds at least this many rows (a multiple of SPLIT_ROW_STEP). */
  minRowsPerSplit: 64,
};

/**
 * The number of splits S to use for the weight gradient of these dimensions on this device, with
 * at most `scratchElements` f32 of partials (S·N·K ≤ scratchElements); 1 means don't split (use
 * matmulWeightGrad). 1 on CPU drivers (a barrier-free policy: there the barrier-free kernels win and
 * there are few cores to fill), for outputs the unsplit kernel already spreads over enough
 * workgroups, for few rows, and whenever fewer than 2 splits would fit. Otherwise S ≈
 * targetWorkgroups / (pass-1 tiles), at most M / minRowsPerSplit, and reduced to the number of
 * non-empty chunks once the chunk size is rounded to SPLIT_ROW_STEP. See SPLIT_POLICY.
 */
export function weightGradSplits(policy: KernelPolicy, d: { M: number; N: number; K: number }, scratchElements: number): number {
  const { M, N, K } = d;
  if (policy.kernels === 'barrier-free' || N <= 0 || K <= 0 || M < SPLIT_POLICY.minRows) return 1;
  const unsplit = tilesAlong(N, TILE64) * tilesAlong(K, TILE64);
  if (unsplit >= SPLIT_POLICY.maxUnsplitWorkgroups) return 1;
  const kThin = weightGradSplitKThin(N, K);
  const tiles = splitTiles(N, K, kThin);
  let S = Math.min(
    Math.round(SPLIT_POLICY.targetWorkgroups / tiles),
    Math.floor(M / SPLIT_POLICY.minRowsPerSplit),
    Math.floor(scratchElements / (N * K)),
    MAX_GROUPS,
  );
  if (S < 2) return 1;
  S = Math.ceil(M / splitRowsPerChunk(M, S)); // no empty chunks after rounding the chunk size
  const fits = tileGrid(N, K, kThin).every((g) => g <= MAX_GROUPS);
  return S >= 2 && fits ? S : 1;
}

const dimsText = (d: { M: number; N: number; K: number; splits: number }) => `M=${d.M} N=${d.N} K=${d.K} S=${d.splits}`;

/**
 * dweight: [N, K]; dout: [M, N]; inp: [M, K]; partials: scratch of at least S·N·K f32 (its
 * contents are overwritten; elements past S·N·K are left alone).
 * dweight = (accumulate ? dweight : 0) + scale · Σ_m dout[m, :]ᵀ · inp[m, :], the sum over m taken
 * as S chunk sums (each in row order) added in chunk order: the same bits on every run, not the
 * same bits as matmulWeightGrad. partials must be a buffer of its own (not dweight's, dout's or
 * inp's). M = 0 gives zeros (or leaves dweight as it is).
 */
export function matmulWeightGradSplit(
  rec: Recorder,
  dweight: Tensor,
  dout: Tensor,
  inp: Tensor,
  partials: Tensor,
  dims: WeightGradSplitDims,
): void {
  const kernel = 'matmul_weight_grad_split';
  const { M, N, K, splits: S } = dims;
  for (const [v, what] of [[M, 'M'], [N, 'N'], [K, 'K']] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${kernel}: ${what} = ${v} must be a non-negative integer (${dimsText(dims)})`);
  }
  if (!Number.isInteger(S) || S < 1) throw new Error(`${kernel}: splits = ${S} must be a positive integer (${dimsText(dims)})`);
  requireF32(kernel, [[dweight, 'dweight'], [dout, 'dout'], [inp, 'inp'], [partials, 'partials']]);
  const sizes: Array<[Tensor, number, string]> = [
    [dweight, N * K, 'dweight'],
    [dout, M * N, 'dout'],
    [inp, M * K, 'inp'],
    [partials, splitPartialsElements(dims, S), 'partials'],
  ];
  for (const [t, want, what] of sizes) {
    if (t.size < want) throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (${dimsText(dims)})`);
  }
  for (const [t, what] of [[dweight, 'dweight'], [dout, 'dout'], [inp, 'inp']] as const) {
    if (t.buffer === partials.buffer) throw new Error(`${kernel}: partials shares its buffer with ${what}; it needs a scratch buffer of its own (${dimsText(dims)})`);
  }
  if (N === 0 || K === 0) return;
  const d = weightGradSplitLaunch(dims);
  weightGradSplitGrid(d); // throws before anything is recorded
  rec.run(matmulWeightGradSplitKernel, d, [partials, dout, inp]);
  reducePartials(rec, dweight, partials, { count: N * K, splits: S, scale: d.scale, accumulate: d.accumulate });
}
