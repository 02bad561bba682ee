// Causal scaled-dot-product attention with grouped-query heads and a key padding mask, reading
// keys and values from a KV-cache layout [B, S, KV, HS]; flash-style online softmax, O(T) memory.
import code from '../../../shaders/attention_forward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export interface AttentionDims {
  B: number;
  T: number; // query positions in this call, at absolute positions pos0 .. pos0 + T - 1
  S: number; // key/value capacity of the cache (pos0 + T <= S)
  NH: number; // query heads
  KV: number; // key/value heads; NH is a multiple of KV
  HS: number; // head size, at most ATTENTION_MAX_HS
  pos0: number;
}

/** The largest head size the kernel's private arrays hold (MAX_HS in attention_forward.wgsl). */
export const ATTENTION_MAX_HS = 256;

/** lse of a query row that has no allowed key (a padding query of a left-padded row); its out row is 0. */
export const ATTENTION_NO_KEY_LSE = -1e30;

export const attentionForwardKernel: KernelSpec<AttentionDims> = {
  name: 'attention_forward',
  code,
  bindings: ['read_write', 'read_write', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HS: d.HS }),
  params: (d) => [u32(d.B * d.T * d.NH), u32(d.T), u32(d.S), u32(d.NH), u32(d.KV), u32(d.pos0), f32(1 / Math.sqrt(d.HS))],
  dispatch: (d) => grid1d(d.B * d.T * d.NH, 64),
};

/**
 * out, q: [B, T, NH, HS]; k, v: [B, S, KV, HS]; mask: u32 [B, S] (1 real token, 0 padding);
 * lse: [B, NH, T], log-sum-exp of each row's scores, or ATTENTION_NO_KEY_LSE (with out = 0) for a
 * query that may attend to no key. Query t attends to keys j <= pos0 + t with mask[b, j] != 0.
 */
export function attentionForward(
  rec: Recorder,
  out: Tensor,
  lse: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor,
  dims: AttentionDims,
): void {
  const { T, S, NH, KV, HS, pos0 } = dims;
  if (HS < 1 || HS > ATTENTION_MAX_HS) throw new Error(`attention_forward: head size ${HS} is outside 1..${ATTENTION_MAX_HS}`);
  if (KV < 1 || NH % KV !== 0) throw new Error(`attention_forward: ${NH} query heads are not a multiple of ${KV} kv heads`);
  if (pos0 + T > S) throw new Error(`attention_forward: positions up to ${pos0 + T} do not fit a cache of ${S}`);
  if (mask.dtype !== 'u32') throw new Error(`attention_forward: the mask is ${mask.dtype}, u32 expected`);
  rec.run(attentionForwardKernel, dims, [out, lse, q, k, v, mask]);
}
