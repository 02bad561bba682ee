// CPU reference for copy_rows: starting from a copy of `out` ([B, outT, C]), for b < B, t < n, c < C
// set out[(b·outT + outStart + t)·C + c] = inp[(b·inT + inStart + t)·C + c] (inp: [B, inT, C]).
export function copyRowsRef(
  out: Float32Array,
  inp: Float32Array,
  d: { B: number; n: number; C: number; inT: number; inStart: number; outT: number; outStart: number },
): Float32Array {
  const res = out.slice();
  for (let b = 0; b < d.B; b++) {
    for (let t = 0; t < d.n; t++) {
      for (let c = 0; c < d.C; c++) {
        res[(b * d.outT + d.outStart + t) * d.C + c] = inp[(b * d.inT + d.inStart + t) * d.C + c];
      }
    }
  }
  return res;
}
