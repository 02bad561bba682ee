// The causal-LM loss, Hugging Face's convention: position t of row b predicts label t+1, labels of
// -100 are ignored, and the loss is the mean over counted positions of lse(logits) - logit[label].
// Logits are produced and consumed in chunks of rows, so that B·T·V of them never exist at once:
// crossentropyForward and crossentropyBackward take a chunk [rows, V] holding the flattened
// positions row0 .. row0 + rows - 1, and write per-position results into whole-batch buffers.
import backwardCode from '../../../shaders/crossentropy_backward.wgsl?raw';
import forwardCode from '../../../shaders/crossentropy_forward.wgsl?raw';
import reduceCode from '../../../shaders/loss_reduce.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { selectRowReduction, type KernelPolicy } from '../policy.js';

/** The label Hugging Face ignores (torch's cross_entropy ignore_index). */
export const IGNORE_INDEX = -100;

/**
 * The per-position targets of a batch: targets[b·T + t] = labels[b, t + 1] when t < T - 1 and that
 * label is not -100, else -1 (the position is not counted); count is the number of counted
 * positions, the denominator of the mean loss. labels: [B, T]. With V given, every counted label
 * must be a token id below V (torch raises on anything else, and so does this).
 */
export function shiftedTargets(labels: Int32Array, B: number, T: number, V?: number): { targets: Int32Array; count: number } {
  if (labels.length !== B * T) throw new Error(`shiftedTargets: ${labels.length} labels for B=${B}, T=${T}`);
  const targets = new Int32Array(B * T).fill(-1);
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const label = labels[b * T + t + 1];
      if (label === IGNORE_INDEX) continue;
      if (label < 0 || (V !== undefined && label >= V)) {
        throw new Error(`shiftedTargets: label ${label} at [${b}, ${t + 1}] is neither ${IGNORE_INDEX} nor a token id${V === undefined ? '' : ` below V=${V}`}`);
      }
      targets[b * T + t] = label;
      count++;
    }
  }
  return { targets, count };
}

export interface CrossentropyDims {
  rows: number; // rows of this chunk of logits
  V: number; // vocabulary size
  row0: number; // the chunk's first flattened position b·T + t
}

export interface CrossentropyBackwardDims extends CrossentropyDims {
  dscale: number; // d loss / d per-position loss: 1/count for the mean
  /** The logits were softcapped with this cap (./softcap.ts): the gradient goes on to the raw logits. Default none. */
  softcap?: number | null;
}

export interface LossMeanDims {
  n: number; // per-position losses to add, B·T
  scale: number; // 1/count
}

export const crossentropyForwardKernel: KernelSpec<CrossentropyDims> = {
  name: 'crossentropy_forward',
  code: forwardCode,
  bindings: ['read_write', 'read_write', 'read', 'read'],
  params: (d) => [u32(d.rows), u32(d.V), u32(d.row0)],
  dispatch: (d) => grid1d(d.rows, 1),
};

/** The barrier-free variant (one invocation per row), for devices where barriers are slow. */
export const crossentropyForwardPerRowKernel: KernelSpec<CrossentropyDims> = {
  ...crossentropyForwardKernel,
  entryPoint: 'per_row',
  dispatch: (d) => grid1d(d.rows, 64),
};

const BACKWARD_WG = 256;

export const crossentropyBackwardKernel: KernelSpec<CrossentropyBackwardDims> = {
  name: 'crossentropy_backward',
  code: backwardCode,
  bindings: ['read_write', 'read', 'read'],
  params: (d) => [u32(d.rows), u32(d.V), u32(d.row0), f32(d.dscale), f32(d.softcap ?? 0)],
  dispatch: (d) => {
    const [y, z] = grid1d(d.rows, 1);
    return [Math.ceil(d.V / BACKWARD_WG), y, z];
  },
};

export const lossReduceKernel: KernelSpec<LossMeanDims> = {
  name: 'loss_reduce',
  code: reduceCode,
  bindings: ['read_write', 'read'],
  params: (d) => [u32(d.n), f32(d.scale)],
  dispatch: () => [1],
};

function checkChunk(kernel: string, logits: Tensor, lse: Tensor, targets: Tensor, d: CrossentropyDims): void {
  const { rows, V, row0 } = d;
  if (rows < 1 || V < 1 || row0 < 0) throw new Error(`${kernel}: rows=${rows}, V=${V}, row0=${row0} is not a chunk`);
  if (Math.ceil(V / BACKWARD_WG) > 65535) throw new Error(`${kernel}: V=${V} exceeds ${65535 * BACKWARD_WG}`);
  if (logits.size < rows * V) throw new Error(`${kernel}: logits hold ${logits.size} elements, fewer than rows·V = ${rows * V}`);
  if (targets.dtype !== 'i32') throw new Error(`${kernel}: targets are ${targets.dtype}, i32 expected`);
  if (row0 + rows > targets.size || row0 + rows > lse.size) {
    throw new Error(`${kernel}: rows ${row0}..${row0 + rows - 1} exceed targets [${targets.size}] or lse [${lse.size}]`);
  }
}

/** The cross-entropy forward kernel (a log-sum-exp per row) of a device with this policy. */
export const selectCrossentropyForward = (policy: KernelPolicy) =>
  selectRowReduction(policy, { perRow: crossentropyForwardPerRowKernel, workgroup: crossentropyForwardKernel });

/**
 * losses, lse: [B·T] (whole batch); logits: [rows, V] (this chunk); targets: i32 [B·T] from
 * shiftedTargets. For g = row0 + r: lse[g] = log Σ_v exp(logits[r, v]); losses[g] = lse[g] -
 * logits[r, targets[g]] at counted positions and 0 elsewhere.
 */
export function crossentropyForward(rec: Recorder, losses: Tensor, lse: Tensor, logits: Tensor, targets: Tensor, dims: CrossentropyDims): void {
  checkChunk('crossentropy_forward', logits, lse, targets, dims);
  if (dims.row0 + dims.rows > losses.size) throw new Error(`crossentropy_forward: rows up to ${dims.row0 + dims.rows} exceed losses [${losses.size}]`);
  const { kernel } = selectCrossentropyForward(rec.ctx.policy);
  rec.run(kernel, dims, [losses, lse, logits, targets]);
}

/**
 * dlogits: [rows, V], the chunk's logits buffer, overwritten with d loss / d logits =
 * (softmax - onehot(target)) · dscale at counted positions and 0 elsewhere; lse and targets as
 * crossentropyForward left and read them. With dims.softcap = c the logits were softcapped and
 * the result is d loss / d raw logits: the above times 1 − (logit / c)².
 */
export function crossentropyBackward(rec: Recorder, dlogits: Tensor, lse: Tensor, targets: Tensor, dims: CrossentropyBackwardDims): void {
  checkChunk('crossentropy_backward', dlogits, lse, targets, dims);
  rec.run(crossentropyBackwardKernel, dims, [dlogits, lse, targets]);
}

/** loss: [1] = scale · Σ losses[0 .. n), a deterministic single-workgroup sum; losses: [n]. */
export function lossMean(rec: Recorder, loss: Tensor, losses: Tensor, dims: LossMeanDims): void {
  if (dims.n < 0 || dims.n > losses.size) throw new Error(`loss_reduce: n=${dims.n} for losses [${losses.size}]`);
  rec.run(lossReduceKernel, dims, [loss, losses]);
}
