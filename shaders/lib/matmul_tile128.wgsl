// What the two 128 × 128-tiled matmuls share (matmul_tile128_forward, matmul_tile128_backward):
// the tile geometry, the swizzled slot of a staged slice, and the weight read with zeros past its
// edges. The reduced dimension (k forward, n backward) is staged STEP values at a time.

const TILE: u32 = 128u;          // rows and columns of the output per workgroup
const STEP: u32 = 16u;           // values of the reduced dimension per staged slice
const ROW4: u32 = TILE / 4u;     // vec4 slots per step in a staged slice
const SLICE: u32 = STEP * ROW4;  // vec4 slots per staged slice (512)

// The slot of rows 4 v .. 4 v + 3 at step s within a staged slice (the swizzle spreads the rows
// of neighbouring steps over different banks).
fn slot(s: u32, v: u32) -> u32 {
  return s * ROW4 + (v ^ ((s >> 1u) & 6u));
}

// weight[n, 4 kv .. 4 kv + 3], or zeros past N or K.
fn load_w(n: u32, kv: u32) -> vec4<f32> {
  let K4 = params.K / 4u;
  if (n >= params.N || kv >= K4) { return vec4<f32>(0.0); }
  return weight4_at(n * K4 + kv);
}
