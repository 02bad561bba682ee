// Copy a block of rows between two [B, *, C] tensors, one invocation per copied element:
//   for b in [0, B), t in [0, n), c in [0, C):
//     out[((b * outT + outStart + t) * C + c] = inp[((b * inT + inStart + t) * C + c]
// inp: [B, inT, C]; out: [B, outT, C]; rows outside [outStart, outStart + n) of out are untouched.
// Writing a new K/V block of T positions into a cache [B, S, W] at position pos0 is
// inT = T, inStart = 0, outT = S, outStart = pos0, n = T; picking the last position of each
// sequence is inT = T, inStart = T - 1, outT = 1, outStart = 0, n = 1. It has no backward pass.
// One invocation per element i, from the entry point of lib/grid_1d.wgsl,
// in the order of out's block: i = (b * n + t) * C + c.

struct Params {
  B: u32,
  n: u32,
  C: u32,
  inT: u32,
  inStart: u32,
  outT: u32,
  outStart: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn invocations() -> u32 { return params.B * params.n * params.C; }

fn element(i: u32) {
  let c = i % params.C;
  let t = (i / params.C) % params.n;
  let b = i / (params.C * params.n);
  out[(b * params.outT + params.outStart + t) * params.C + c] = inp[(b * params.inT + params.inStart + t) * params.C + c];
}
