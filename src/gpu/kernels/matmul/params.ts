// The uniform parameters every matmul kernel takes, one layout for the family: the Params struct of
// shaders/lib/matmul_params.wgsl, which each matmul module composes in.
import paramsCode from '../../../../shaders/lib/matmul_params.wgsl?raw';
import { f32, u32, type Param } from '../../kernel.js';
import type { WgslPart } from '../../wgsl.js';

export const MATMUL_PARAMS_PART: WgslPart = { name: 'lib/matmul_params.wgsl', code: paramsCode };

export interface MatmulParams {
  M: number;
  N: number;
  K: number;
  /** Multiplies the product (default 1). */
  scale?: number;
  /** The rank of a fused LoRA term (default 0: none) and its factor (default 0). */
  R?: number;
  loraScale?: number;
  /** The slice of a split reduction (default 0). */
  split?: number;
  /**
   * The [M, N] operand (out forward, dout backward) as a column block of a wider row-major matrix:
   * its row stride (default N) and first column (default 0). A split LM head's part writes, and
   * reads the gradient of, its columns of the whole logits.
   */
  ld?: number;
  col0?: number;
}

/** The Params fields in their WGSL order. */
export const matmulParams = (p: MatmulParams): Param[] => [
  u32(p.M),
  u32(p.N),
  u32(p.K),
  f32(p.scale ?? 1),
  u32(p.R ?? 0),
  f32(p.loraScale ?? 0),
  u32(p.split ?? 0),
  u32(p.ld ?? p.N),
  u32(p.col0 ?? 0),
];

/** The [M, N] operand's column block, as MatmulParams.ld / col0 say it (the defaults: the operand itself). */
export interface ColumnBlock {
  ld?: number;
  col0?: number;
}

/** The elements a column block [M, N] at (ld, col0) needs its buffer to hold: (M − 1)·ld + col0 + N, 0 when empty. */
export function columnBlockSize(M: number, N: number, { ld = N, col0 = 0 }: ColumnBlock): number {
  return M === 0 || N === 0 ? 0 : (M - 1) * ld + col0 + N;
}

/** Whether a column block's rows start at whole vec4s: ld and col0 multiples of 4 (always so for the plain operand of N a multiple of 4). */
export const columnBlockVec4 = (N: number, { ld = N, col0 = 0 }: ColumnBlock): boolean => N % 4 === 0 && ld % 4 === 0 && col0 % 4 === 0;

/** Throws unless the column block lies within its matrix's rows: col0 + N ≤ ld. */
export function checkColumnBlock(kernel: string, N: number, { ld = N, col0 = 0 }: ColumnBlock): void {
  if (!(Number.isInteger(ld) && Number.isInteger(col0) && col0 >= 0 && col0 + N <= ld)) {
    throw new Error(`${kernel}: a column block needs 0 ≤ col0 and col0 + N ≤ ld, not col0=${col0} N=${N} ld=${ld}`);
  }
}
