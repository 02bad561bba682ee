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
];
