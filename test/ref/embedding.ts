// CPU reference for token embeddings: out[b, t, c] = wte[ids[b, t], c]·scale (+ wpe[pos0 + t, c]),
// the product rounded to f32 (Gemma's √C scale; 1 otherwise).
// ids: [B, T]; wte: [V, C]; wpe: [P, C] or null; out: [B, T, C]. Ids are assumed valid.
export function embeddingForwardRef(
  ids: ArrayLike<number>,
  wte: Float32Array,
  wpe: Float32Array | null,
  B: number,
  T: number,
  C: number,
  pos0: number,
  scale = 1,
): Float32Array {
  const out = new Float32Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const id = ids[b * T + t];
      for (let c = 0; c < C; c++) {
        let v = Math.fround(wte[id * C + c] * scale);
        if (wpe) v += wpe[(pos0 + t) * C + c];
        out[(b * T + t) * C + c] = v;
      }
    }
  }
  return out;
}
