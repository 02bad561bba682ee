// Rotary position embedding (RoPE) in the Hugging Face "rotate half" layout, applied to queries
// ([B, T, NH, HS]) and keys ([B, T, KV, HS]) at absolute positions pos0 .. pos0 + T - 1.
import code from '../../../shaders/rope_forward.wgsl?raw';
import backwardCode from '../../../shaders/rope_backward.wgsl?raw';
import { grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export interface RopeDims {
  B: number;
  T: number; // positions in this call
  H: number; // heads: NH for queries, KV for keys
  HS: number; // head size, even
  pos0: number; // absolute position of t = 0
  /** The table's first row in cos and sin (several RoPEs share one buffer, P rows each); default 0. */
  tableRow?: number;
}

/**
 * The cos and sin tables the kernel reads, each [maxPositions, HS/2] row-major:
 * cos[p, i] = cos(p · invFreq[i]), sin[p, i] = sin(p · invFreq[i]), for unscaled RoPE of base theta.
 *
 * invFreq is computed the way Hugging Face does it, in f32: invFreq[i] = 1 / f32(theta^(2i/HS))
 * (ropeInverseFrequencies); ropeTablesOf takes the angles and their cos and sin.
 */
export function ropeTables(theta: number, HS: number, maxPositions: number): { cos: Float32Array; sin: Float32Array } {
  if (HS % 2 !== 0) throw new Error(`ropeTables: head size ${HS} is odd`);
  return ropeTablesOf(ropeInverseFrequencies(theta, HS), maxPositions);
}

/** Unscaled RoPE's inverse frequencies in f32, as transformers computes them: 1 / f32(theta^f32(2i/HS)), [HS/2]. */
export function ropeInverseFrequencies(theta: number, HS: number): Float32Array {
  const half = HS / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.fround(theta ** Math.fround((2 * i) / HS));
  return invFreq;
}

/**
 * The tables of any inverse frequencies [HS/2] (scaled RoPE computes its own): the angle is the
 * f32 product f32(p · invFreq[i]) (HF multiplies positions by invFreq in f32), and its cos and sin
 * are taken in double precision and rounded to f32, so they are exact to the last bit where
 * WGSL's sin/cos would be inaccurate outside [-pi, pi]. Each [maxPositions, HS/2].
 */
export function ropeTablesOf(invFreq: Float32Array, maxPositions: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(p * invFreq[i]);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** Both directions run one invocation per rotated pair, with the same bindings and params. */
const ropeLaunch: Omit<KernelSpec<RopeDims>, 'name' | 'code'> = {
  bindings: ['read_write', 'read', 'read', 'read'],
  params: (d) => [u32(d.B * d.T * d.H), u32(d.T), u32(d.H), u32(d.HS), u32(d.pos0), u32(d.tableRow ?? 0)],
  dispatch: (d) => grid1d((d.B * d.T * d.H * d.HS) / 2, 64),
};

export const ropeForwardKernel: KernelSpec<RopeDims> = { name: 'rope_forward', code, ...ropeLaunch };
export const ropeBackwardKernel: KernelSpec<RopeDims> = { name: 'rope_backward', code: backwardCode, ...ropeLaunch };

/** Launch either direction after checking the head size, the tables and that out and inp are different buffers. */
function runRope(rec: Recorder, kernel: KernelSpec<RopeDims>, out: Tensor, inp: Tensor, cos: Tensor, sin: Tensor, dims: RopeDims): void {
  if (dims.HS % 2 !== 0) throw new Error(`${kernel.name}: head size ${dims.HS} is odd`);
  const needed = ((dims.tableRow ?? 0) + dims.pos0 + dims.T) * (dims.HS / 2);
  if (cos.size < needed || sin.size < needed) {
    throw new Error(`${kernel.name}: tables hold ${Math.min(cos.size, sin.size) / (dims.HS / 2)} rows, positions up to ${dims.pos0 + dims.T} from row ${dims.tableRow ?? 0} needed`);
  }
  if (out.buffer === inp.buffer) throw new Error(`${kernel.name}: the output and input must be different buffers`);
  rec.run(kernel, dims, [out, inp, cos, sin]);
}

/**
 * out, inp: [B, T, H, HS] (different buffers: WebGPU cannot bind one buffer both read and
 * read_write in a dispatch); cos, sin: [maxPositions, HS/2] from ropeTables (or several such tables, the one in use starting
 * at row dims.tableRow), with pos0 + T <= maxPositions.
 */
export function ropeForward(rec: Recorder, out: Tensor, inp: Tensor, cos: Tensor, sin: Tensor, dims: RopeDims): void {
  runRope(rec, ropeForwardKernel, out, inp, cos, sin, dims);
}

/**
 * The input gradient of RoPE: each pair (dout[i], dout[i + HS/2]) rotated by −a, the transpose of
 * the forward rotation. dinp, dout: [B, T, H, HS] (different buffers); cos, sin: the same
 * [maxPositions, HS/2] tables as ropeForward's, with pos0 + T <= maxPositions. dinp is overwritten.
 */
export function ropeBackward(rec: Recorder, dinp: Tensor, dout: Tensor, cos: Tensor, sin: Tensor, dims: RopeDims): void {
  runRope(rec, ropeBackwardKernel, dinp, dout, cos, sin, dims);
}
