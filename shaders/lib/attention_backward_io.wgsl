// The inputs and uniform of the attention gradient kernels (attention_backward_query.wgsl and
// attention_backward_key.wgsl, with their vec4 and subgroup variants). Training layout: no cache
// offset, so the keys are the T positions of the same sequence. The kernel part declares its
// outputs (dq at binding 0, or dk and dv at 0 and 1), FIRST_INPUT (the next binding), and Elem,
// the element type of the head-dimension buffers: f32, or vec4<f32> in the vec4 kernels.
//
// dout, q: [B, T, NH, HS]; k, v: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// The scores, the causal mask and the sliding window are lib/attention_score.wgsl's.

struct Params {
  rows: u32,  // the number of rows: B * T * NH query rows, or B * T * KV key rows
  T: u32,
  NH: u32,
  KV: u32,
  scale: f32,   // the score scale, 1 / sqrt(HS) unless the launch gives another
  window: u32,  // the sliding window W (lib/attention_score.wgsl), 0 for none; at most T
}

@group(0) @binding(FIRST_INPUT) var<storage, read> dout: array<Elem>;
@group(0) @binding(FIRST_INPUT + 1u) var<storage, read> q: array<Elem>;
@group(0) @binding(FIRST_INPUT + 2u) var<storage, read> k: array<Elem>;
@group(0) @binding(FIRST_INPUT + 3u) var<storage, read> v: array<Elem>;
@group(0) @binding(FIRST_INPUT + 4u) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(FIRST_INPUT + 5u) var<storage, read> mask: array<u32>;
@group(0) @binding(FIRST_INPUT + 6u) var<uniform> params: Params;
