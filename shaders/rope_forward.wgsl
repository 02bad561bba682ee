// Rotary position embedding (RoPE), forward, in the Hugging Face "rotate half" layout
// (LlamaRotaryEmbedding + apply_rotary_pos_emb): the first and second halves of each head vector
// form the pairs (x[i], x[i + HS/2]) that are rotated together.
//
// inp and out are [B, T, H, HS] (H is NH for queries, KV for keys) and must be different buffers.
// Row (b, t) sits at absolute position p = pos0 + t. For i in [0, HS/2), with the angle
// a = p * invFreq[i] and invFreq[i] = theta^(-2i/HS):
//   out[i]        = x[i] * cos(a) - x[i + HS/2] * sin(a)
//   out[i + HS/2] = x[i + HS/2] * cos(a) + x[i] * sin(a)
// WGSL's sin and cos are only accurate on [-pi, pi], so cos(a) and sin(a) are read from tables
// cos_t and sin_t of shape [maxPositions, HS/2] computed on the CPU (ropeTables in rope.ts; a model
// with several RoPEs keeps their tables one after the other, this one from row table_row);
// the caller guarantees pos0 + T <= maxPositions.
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

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
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
  let x1 = inp[base + i];
  let x2 = inp[base + i + half];
  out[base + i] = x1 * c - x2 * s;
  out[base + i + half] = x2 * c + x1 * s;
}
