// CPU reference for causal grouped-query attention with a key padding mask over a KV-cache layout.
// q: [B, T, NH, HS] at positions pos0 + t; k, v: [B, S, KV, HS]; mask: [B, S] (nonzero = real token).
// Query (b, t, h) at p = pos0 + t attends to keys j <= p with mask[b, j] != 0, kv head h / (NH / KV),
// scores (q · k_j) / sqrt(HS), softmax in f64 with the maximum subtracted. out: [B, T, NH, HS];
// lse: [B, NH, T] = max + log(sum exp(score - max)); a row with no allowed key gets out = 0, lse = -1e30.
export function attentionForwardRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: ArrayLike<number>,
  dims: { B: number; T: number; S: number; NH: number; KV: number; HS: number; pos0: number },
) {
  const { B, T, S, NH, KV, HS, pos0 } = dims;
  const out = new Float32Array(B * T * NH * HS);
  const lse = new Float32Array(B * NH * T);
  const scale = 1 / Math.sqrt(HS);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / (NH / KV));
        const qo = ((b * T + t) * NH + h) * HS;
        const keys: number[] = [];
        const scores: number[] = [];
        for (let j = 0; j <= pos0 + t; j++) {
          if (!mask[b * S + j]) continue;
          const ko = ((b * S + j) * KV + kvh) * HS;
          let s = 0;
          for (let d = 0; d < HS; d++) s += q[qo + d] * k[ko + d];
          keys.push(j);
          scores.push(s * scale);
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

// CPU reference for the backward pass of training attention (pos0 = 0, S = T), naive, in f64, and
// independent of the forward's saved tensors: it recomputes the softmax weights from q, k and mask.
// dout, q: [B, T, NH, HS]; k, v: [B, T, KV, HS]; mask: [B, T]. For the query i = (b, t, h) with
// allowed keys j <= t, mask[b, j] != 0, kv head h / (NH / KV): p_ij = softmax_j(q_i · k_j / sqrt(HS)),
// out_i = Σ_j p_ij v_j, D_i = dout_i · out_i, ds_ij = p_ij (dout_i · v_j - D_i), and
//   dq_i = Σ_j ds_ij k_j / sqrt(HS),  dk_j += ds_ij q_i / sqrt(HS),  dv_j += p_ij dout_i.
// A query with no allowed key contributes nothing; a padding key gets dk = dv = 0.
// Returns dq [B, T, NH, HS], dk and dv [B, T, KV, HS] as Float64Array.
export function attentionBackwardRef(
  dout: ArrayLike<number>,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  mask: ArrayLike<number>,
  dims: { B: number; T: number; NH: number; KV: number; HS: number },
) {
  const { B, T, NH, KV, HS } = dims;
  const dq = new Float64Array(B * T * NH * HS);
  const dk = new Float64Array(B * T * KV * HS);
  const dv = new Float64Array(B * T * KV * HS);
  const scale = 1 / Math.sqrt(HS);
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
        for (let j = 0; j <= t; j++) if (mask[b * T + j]) keys.push(((b * T + j) * KV + kvh) * HS);
        if (keys.length === 0) continue;
        const scores = keys.map((ko) => dot(q, qo, k, ko) * scale);
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
          const ds = p[n] * (dot(dout, qo, v, ko) - D);
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
