// Rotary position embedding (RoPE), backward, in the Hugging Face "rotate half" layout.
// The forward rotated each pair (x[i], x[i + HS/2]) of a head vector by the angle a; a rotation's
// transpose is the rotation by -a, so the input gradient rotates the output gradient back:
//   dinp[i]        = dout[i] * cos(a) + dout[i + HS/2] * sin(a)
//   dinp[i + HS/2] = dout[i + HS/2] * cos(a) - dout[i] * sin(a)
// dinp and dout are [B, T, H, HS] (H is NH for queries, KV for keys) and must be different
// buffers; each element of dinp is written once, so nothing accumulates. Row (b, t) sits at
// absolute position p = pos0 + t, and a = p * invFreq[i] exactly as in rope_forward.wgsl:
// cos(a) and sin(a) come from the same tables cos_t and sin_t, [maxPositions, HS/2] starting at
// row table_row (ropeTables in rope.ts), with pos0 + T <= maxPositions.
//
// One invocation per rotated pair: index = ((b * T + t) * H + h) * (HS/2) + i, laid out on a 2D
// grid of 64-wide workgroups (see grid1d), so index = (group.x + group.y * groups.x) * 64 + lane.

struct Params {
  rows: u32,  // B * T * H, the number of head vectors
  T: u32,
  H: u32,
  HS: u32,
  pos0: u32,
  table_row: u32,  // the first row of this RoPE's table in cos_t and sin_t (several share them)
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let half = params.HS / 2u;
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= params.rows * half) { return; }
  let row = idx / half;                        // (b * T + t) * H + h
  let i = idx - row * half;
  let t = (row / params.H) % params.T;
  let p = params.pos0 + t;

  let c = cos_t[(params.table_row + p) * half + i];
  let s = sin_t[(params.table_row + p) * half + i];
  let base = row * params.HS;
  let dy1 = dout[base + i];
  let dy2 = dout[base + i + half];
  dinp[base + i] = dy1 * c + dy2 * s;
  dinp[base + i + half] = dy2 * c - dy1 * s;
}
