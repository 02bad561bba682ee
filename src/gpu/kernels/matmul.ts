// The forward pass of a Linear layer: out[M, N] = inp[M, K] · weight[N, K]ᵀ (+ bias[N]).
// weight is row-major [N, K], the Hugging Face nn.Linear layout, so it is used as stored.
// Two kernels: matmul_forward (64 × 64 tiles staged through workgroup memory) for many rows, and
// matmul_skinny_forward (4 × 4 register blocks, no barriers) for at most SKINNY_MAX_ROWS rows,
// as in decoding one token per sequence. Where barriers are slow (CPU Vulkan drivers, see
// barrier-policy.ts) every M goes to matmul_regtile_forward (4 × 4 register blocks with vec4 loads,
// no barriers) when K is a positive multiple of 4, else to matmul_skinny_forward.
// The weight may be stored as f32 or f16 (./weight-storage.ts): each kernel binds it twice, as
// `weight` (f32) and as `weight_f16` (packed halves, the binding after the bias), and the
// WEIGHT_F16 override picks the one it reads. Products and sums are f32 either way.
import code from '../../../shaders/matmul_forward.wgsl?raw';
import regtileCode from '../../../shaders/matmul_regtile_forward.wgsl?raw';
import skinnyCode from '../../../shaders/matmul_skinny_forward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { preferBarrierFree } from './barrier-policy.js';
import { matmulTile128Forward, useTile128Forward } from './matmul-tile128.js';
import { requireF32, weightBindings, weightIsF16 } from './weight-storage.js';

export interface MatmulDims {
  M: number; // rows of inp and out (B·T, or fewer)
  N: number; // output features: rows of weight, columns of out
  K: number; // input features: columns of inp and of weight
}

/** The launch dimensions plus whether a bias is bound (the HAS_BIAS override). */
export interface MatmulLaunch extends MatmulDims {
  hasBias: boolean;
  /** matmul_regtile_forward only: add to out instead of overwriting it (default false). */
  accumulate?: boolean;
  /** matmul_regtile_forward only: multiplies the product, before the bias (default 1). */
  scale?: number;
  /** The weight is stored as f16 (the WEIGHT_F16 override; default false, f32). */
  weightF16?: boolean;
}

const weightF16 = (d: MatmulLaunch) => (d.weightF16 ? 1 : 0);

/** Each workgroup computes a MATMUL_TILE × MATMUL_TILE block of out (see matmul_forward.wgsl). */
export const MATMUL_TILE = 64;
const MAX_GROUPS = 65535;

/**
 * Workgroups (x, y, z) covering out: x walks the column tiles, y·z the row tiles. The row tiles
 * are split over z only when there are more than 65535 of them; the shader reads the row tile as
 * workgroup_id.y + workgroup_id.z · num_workgroups.y and skips the few past the last.
 */
export function matmulGrid(M: number, N: number): [number, number, number] {
  const colTiles = Math.max(1, Math.ceil(N / MATMUL_TILE));
  const rowTiles = Math.max(1, Math.ceil(M / MATMUL_TILE));
  if (colTiles > MAX_GROUPS) throw new Error(`matmul_forward: N = ${N} needs ${colTiles} column tiles, more than ${MAX_GROUPS}`);
  if (rowTiles <= MAX_GROUPS) return [colTiles, rowTiles, 1];
  const z = Math.ceil(rowTiles / MAX_GROUPS);
  return [colTiles, Math.ceil(rowTiles / z), z];
}

export const matmulForwardKernel: KernelSpec<MatmulLaunch> = {
  name: 'matmul_forward',
  code,
  bindings: ['read_write', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, WEIGHT_F16: weightF16(d) }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K)],
  dispatch: (d) => matmulGrid(d.M, d.N),
};

/** Up to this many rows go to matmul_skinny_forward. */
export const SKINNY_MAX_ROWS = 8;

export const matmulSkinnyForwardKernel: KernelSpec<MatmulLaunch> = {
  name: 'matmul_skinny_forward',
  code: skinnyCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, WEIGHT_F16: weightF16(d) }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K)],
  dispatch: (d) => grid1d(Math.ceil(d.N / 4) * Math.ceil(d.M / 4), 64),
};

/**
 * Any M; K must be a positive multiple of 4 (inp and weight are read as vec4 rows, never empty),
 * Also serves LoRA's update out += s·u·Bᵀ (accumulate, scale; see lora.ts).
 */
export const matmulRegtileForwardKernel: KernelSpec<MatmulLaunch> = {
  name: 'matmul_regtile_forward',
  code: regtileCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, ACCUMULATE: d.accumulate ? 1 : 0, WEIGHT_F16: weightF16(d) }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K), f32(d.scale ?? 1)],
  dispatch: (d) => grid1d(Math.ceil(d.N / 4) * Math.ceil(d.M / 4), 64),
};

/** The forward kernel for these dimensions and this weight on this device. */
function forwardKernel(rec: Recorder, M: number, K: number): KernelSpec<MatmulLaunch> {
  if (preferBarrierFree(rec.ctx)) return K % 4 === 0 && K > 0 ? matmulRegtileForwardKernel : matmulSkinnyForwardKernel;
  return M <= SKINNY_MAX_ROWS ? matmulSkinnyForwardKernel : matmulForwardKernel;
}

/**
 * out: [M, N]; inp: [M, K]; weight: [N, K], f32 or f16; bias: [N] or null. The weight buffer is
 * bound both as f32 and as packed halves (two read-only bindings of one buffer are legal), and,
 * without a bias, again in the bias slot; the kernel reads only the slots it needs.
 */
export function matmulForward(
  rec: Recorder,
  out: Tensor,
  inp: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  dims: MatmulDims,
): void {
  const { M, N, K } = dims;
  const f16 = weightIsF16('matmul_forward', weight);
  requireF32('matmul_forward', bias ? [[out, 'out'], [inp, 'inp'], [bias, 'bias']] : [[out, 'out'], [inp, 'inp']]);
  const check = (t: Tensor, want: number, what: string) => {
    if (t.size < want) throw new Error(`matmul_forward: ${what} has ${t.size} elements, needs ${want} (M=${M} N=${N} K=${K})`);
  };
  check(out, M * N, 'out');
  check(inp, M * K, 'inp');
  check(weight, N * K, 'weight');
  if (bias) check(bias, N, 'bias');
  if (M === 0 || N === 0) return;
  if (!preferBarrierFree(rec.ctx) && useTile128Forward(dims)) return matmulTile128Forward(rec, out, inp, weight, bias, dims);
  const [w32, w16] = weightBindings(weight, inp);
  rec.run(forwardKernel(rec, M, K), { M, N, K, hasBias: bias !== null, weightF16: f16 }, [out, inp, w32, bias ?? w32, w16]);
}
