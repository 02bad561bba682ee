// CPU reference for RoPE in the Hugging Face "rotate half" layout. inp: [B, T, H, HS]; row (b, t)
// is at position p = pos0 + t; for i < HS/2 the angle is a = p · theta^(-2i/HS), computed here in
// f64 (independently of ropeTables), and the pair (x[i], x[i + HS/2]) is rotated by a:
//   out[i] = x[i]·cos a − x[i + HS/2]·sin a,   out[i + HS/2] = x[i + HS/2]·cos a + x[i]·sin a.
type RopeRefDims = { B: number; T: number; H: number; HS: number; pos0: number };

/** Rotate every pair by sign · a. */
function rotatePairs(inp: Float32Array, dims: RopeRefDims, theta: number, sign: 1 | -1): Float32Array {
  const { B, T, H, HS, pos0 } = dims;
  const half = HS / 2;
  const out = new Float32Array(inp.length);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = pos0 + t;
      for (let h = 0; h < H; h++) {
        const base = ((b * T + t) * H + h) * HS;
        for (let i = 0; i < half; i++) {
          const a = sign * p * theta ** ((-2 * i) / HS);
          const x1 = inp[base + i];
          const x2 = inp[base + i + half];
          out[base + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
          out[base + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
        }
      }
    }
  }
  return out;
}

export function ropeForwardRef(inp: Float32Array, dims: RopeRefDims, theta: number): Float32Array {
  return rotatePairs(inp, dims, theta, 1);
}

// The RoPE input gradient: the forward rotation by a, transposed, is the rotation by −a:
//   dinp[i] = dy[i]·cos a + dy[i + HS/2]·sin a,   dinp[i + HS/2] = dy[i + HS/2]·cos a − dy[i]·sin a.
export function ropeBackwardRef(dout: Float32Array, dims: RopeRefDims, theta: number): Float32Array {
  return rotatePairs(dout, dims, theta, -1);
}
