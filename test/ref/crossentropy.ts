// CPU references for the causal-LM cross-entropy, in f64, straight from the labels (Hugging Face's
// convention, independent of shiftedTargets): position t of row b predicts labels[b, t + 1]; it is
// counted when t < T - 1 and that label is not -100. logits: [B, T, V]; labels: [B, T].
//   lse[b·T + t]    = log Σ_v exp(logits[b, t, v])
//   losses[b·T + t] = lse - logits[b, t, labels[b, t + 1]] when counted, else 0
//   mean            = Σ losses / count
//   dlogits[b, t, v] = d mean / d logits[b, t, v] = (softmax_v - [v == label]) / count when counted, else 0
export function crossEntropyRef(logits: ArrayLike<number>, labels: Int32Array, B: number, T: number, V: number) {
  const losses = new Float64Array(B * T);
  const lse = new Float64Array(B * T);
  let count = 0;
  let sum = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      let mx = -Infinity;
      for (let v = 0; v < V; v++) mx = Math.max(mx, logits[r * V + v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(logits[r * V + v] - mx);
      lse[r] = mx + Math.log(s);
      const label = t + 1 < T ? labels[r + 1] : -100;
      if (label === -100) continue;
      losses[r] = lse[r] - logits[r * V + label];
      sum += losses[r];
      count++;
    }
  }
  return { losses, lse, count, mean: sum / count };
}

export function crossEntropyBackwardRef(logits: ArrayLike<number>, labels: Int32Array, B: number, T: number, V: number): Float64Array {
  const { lse, count } = crossEntropyRef(logits, labels, B, T, V);
  const d = new Float64Array(B * T * V);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const r = b * T + t;
      const label = labels[r + 1];
      if (label === -100) continue;
      for (let v = 0; v < V; v++) d[r * V + v] = (Math.exp(logits[r * V + v] - lse[r]) - (v === label ? 1 : 0)) / count;
    }
  }
  return d;
}
