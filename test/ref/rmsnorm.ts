// CPU reference for RMSNorm: out[r, c] = inp[r, c] / sqrt(mean(inp[r]^2) + eps) * w[c], with
// w = weight, or 1 + weight for Gemma's RMSNorm (onePlusWeight).
export function rmsnormForwardRef(inp: Float32Array, weight: Float32Array, rows: number, C: number, eps: number, onePlusWeight = false) {
  const w = (c: number) => (onePlusWeight ? 1 + weight[c] : weight[c]);
  const out = new Float32Array(rows * C);
  const rstd = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[r * C + c] ** 2;
    const s = 1 / Math.sqrt(ss / C + eps);
    rstd[r] = s;
    for (let c = 0; c < C; c++) out[r * C + c] = inp[r * C + c] * s * w(c);
  }
  return { out, rstd };
}

// CPU reference for the RMSNorm input gradient (frozen weight), in double precision, row by row:
// dinp[j] = rstd·weight[j]·dout[j] − inp[j]·rstd³/C·Σ_c(weight[c]·dout[c]·inp[c]), with the rstd the
// forward saved (weight read as 1 + weight with onePlusWeight). Returns a fresh array; the caller
// adds it to a prior dinp to model accumulation.
export function rmsnormBackwardRef(
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  rstd: Float32Array,
  rows: number,
  C: number,
  onePlusWeight = false,
): Float32Array {
  const w = (c: number) => (onePlusWeight ? 1 + weight[c] : weight[c]);
  const dinp = new Float32Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const s = rstd[r];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += w(c) * dout[r * C + c] * inp[r * C + c];
    const k = (dot * s * s * s) / C;
    for (let c = 0; c < C; c++) dinp[r * C + c] = s * w(c) * dout[r * C + c] - inp[r * C + c] * k;
  }
  return dinp;
}
