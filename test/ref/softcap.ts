// CPU references for logit softcapping, in double precision: capped = cap·tanh(x / cap), and the
// gradient through it, d x = d capped·(1 − tanh²(x / cap)).
export function softcapRef(x: ArrayLike<number>, cap: number): Float64Array {
  return Float64Array.from(x, (v) => cap * Math.tanh(v / cap));
}

export function softcapBackwardRef(dcapped: ArrayLike<number>, x: ArrayLike<number>, cap: number): Float64Array {
  return Float64Array.from(x, (v, i) => dcapped[i] * (1 - Math.tanh(v / cap) ** 2));
}
