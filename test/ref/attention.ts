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
