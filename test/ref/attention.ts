// CPU references for causal grouped-query attention with a key padding mask over a KV-cache
// layout, with the options of Gemma 2 / 3 (src/gpu/kernels/attention.ts AttentionOptions): a
// sliding window, logit softcapping and the score scale. Naive loops in f64.

/** The options, as the kernels' dims carry them; absent or 0: off (scale absent: 1 / sqrt(HS)). */
export interface AttentionRefOptions {
  window?: number;
  softcap?: number;
  scale?: number;
}

/**
 * The keys j the query at absolute position p may attend, before the padding mask: causal
 * (j <= p) and, with a sliding window W > 0, p - W < j (Hugging Face transformers' masking_utils:
 * sliding_window_overlay keeps kv_idx > q_idx - sliding_window). Returns [first, p].
 */
export function attendedKeys(p: number, window = 0): [first: number, last: number] {
  return [window > 0 ? Math.max(0, p - window + 1) : 0, p];
}

/** The score of a raw score r = (q · k) · scale, and its derivative d score / d r: (c · tanh(r / c), 1 - tanh²(r / c)) with softcap c, else (r, 1). */
export function softcapped(r: number, softcap = 0): [score: number, dscore: number] {
  if (!softcap) return [r, 1];
  const th = Math.tanh(r / softcap);
  return [softcap * th, 1 - th * th];
}

// Forward. q: [B, T, NH, HS] at positions pos0 + t; k, v: [B, S, KV, HS]; mask: [B, S] (nonzero =
// real token). Query (b, t, h) at p = pos0 + t attends to keys j in attendedKeys(p, window) with
// mask[b, j] != 0, kv head h / (NH / KV), scores softcapped((q · k_j) · scale), softmax in f64 with
// the maximum subtracted. out: [B, T, NH, HS]; lse: [B, NH, T] = max + log(sum exp(score - max));
// a row with no allowed key gets out = 0, lse = -1e30.
export function attentionForwardRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: ArrayLike<number>,
  dims: { B: number; T: number; S: number; NH: number; KV: number; HS: number; pos0: number } & AttentionRefOptions,
) {
  const { B, T, S, NH, KV, HS, pos0, window, softcap } = dims;
  const out = new Float32Array(B * T * NH * HS);
  const lse = new Float32Array(B * NH * T);
  const scale = dims.scale ?? 1 / Math.sqrt(HS);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / (NH / KV));
        const qo = ((b * T + t) * NH + h) * HS;
        const keys: number[] = [];
        const scores: number[] = [];
        const [first, last] = attendedKeys(pos0 + t, window);
        for (let j = first; j <= last; j++) {
          if (!mask[b * S + j]) continue;
          const ko = ((b * S + j) * KV + kvh) * HS;
          let s = 0;
          for (let d = 0; d < HS; d++) s += q[qo + d] * k[ko + d];
          keys.push(j);
          scores.push(softcapped(s * scale, softcap)[0]);
        }
        if (keys.length === 0) {
          lse[(b * NH + h) * T + t] = -1e30;
          continue;
        }
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const sum = e.reduce((a, x) => a + x, 0);
        lse[(b * NH + h) * T + t] = max + Math.log(sum);
        for (let d = 0; d < HS; d++) {
          let o = 0;
          keys.forEach((j, n) => (o += (e[n] / sum) * v[((b * S + j) * KV + kvh) * HS + d]));
          out[qo + d] = o;
        }
      }
    }
  }
  return { out, lse };
}

// Backward of training attention (pos0 = 0, S = T), naive, in f64, and independent of the
// forward's saved tensors: it recomputes the softmax weights from q, k and mask.
// dout, q: [B, T, NH, HS]; k, v: [B, T, KV, HS]; mask: [B, T]. For the query i = (b, t, h) with
// allowed keys j in attendedKeys(t, window), mask[b, j] != 0, kv head h / (NH / KV): the raw score
// r_ij = (q_i · k_j) · scale, (s_ij, c_ij) = softcapped(r_ij), p_ij = softmax_j(s_ij),
// out_i = Σ_j p_ij v_j, D_i = dout_i · out_i, ds_ij = p_ij (dout_i · v_j - D_i) c_ij, and
//   dq_i = Σ_j ds_ij k_j · scale,  dk_j += ds_ij q_i · scale,  dv_j += p_ij dout_i.
// A query with no allowed key contributes nothing; a padding key gets dk = dv = 0.
// Returns dq [B, T, NH, HS], dk and dv [B, T, KV, HS] as Float64Array.
export function attentionBackwardRef(
  dout: ArrayLike<number>,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  mask: ArrayLike<number>,
  dims: { B: number; T: number; NH: number; KV: number; HS: number } & AttentionRefOptions,
) {
  const { B, T, NH, KV, HS, window, softcap } = dims;
  const dq = new Float64Array(B * T * NH * HS);
  const dk = new Float64Array(B * T * KV * HS);
  const dv = new Float64Array(B * T * KV * HS);
  const scale = dims.scale ?? 1 / Math.sqrt(HS);
  const dot = (a: ArrayLike<number>, ao: number, c: ArrayLike<number>, co: number) => {
    let s = 0;
    for (let d = 0; d < HS; d++) s += a[ao + d] * c[co + d];
    return s;
  };
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / (NH / KV));
        const qo = ((b * T + t) * NH + h) * HS;
        const keys: number[] = [];
        const [first, last] = attendedKeys(t, window);
        for (let j = first; j <= last; j++) if (mask[b * T + j]) keys.push(((b * T + j) * KV + kvh) * HS);
        if (keys.length === 0) continue;
        const capped = keys.map((ko) => softcapped(dot(q, qo, k, ko) * scale, softcap));
        const scores = capped.map(([s]) => s);
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const sum = e.reduce((a, x) => a + x, 0);
        const p = e.map((x) => x / sum);
        let D = 0;
        for (let d = 0; d < HS; d++) {
          let o = 0;
          keys.forEach((ko, n) => (o += p[n] * v[ko + d]));
          D += dout[qo + d] * o;
        }
        keys.forEach((ko, n) => {
          const ds = p[n] * (dot(dout, qo, v, ko) - D) * capped[n][1];
          for (let d = 0; d < HS; d++) {
            dq[qo + d] += ds * k[ko + d] * scale;
            dk[ko + d] += ds * q[qo + d] * scale;
            dv[ko + d] += p[n] * dout[qo + d];
          }
        });
      }
    }
  }
  return { dq, dk, dv };
}
