// The inputs and uniform of the three attention forward kernels (attention_forward.wgsl,
// attention_vec4_forward.wgsl, attention_subgroup_forward.wgsl): the same bindings, params and
// results, as their one launcher in attention.ts binds them. The kernel part declares its outputs
// out (binding 0) and lse (1), FIRST_INPUT = 2, and Elem, the element type of the head-dimension
// buffers: f32, or vec4<f32> in the vec4 kernel (four dimensions each).
//
// q:    [B, T, NH, HS], queries at absolute positions pos0 .. pos0 + T - 1.
// k, v: [B, S, KV, HS], cache positions 0 .. S - 1 (only 0 .. pos0 + T - 1 need be filled).
// mask: u32 [B, S], 1 where the key position holds a real token, 0 for padding.
// The scores, the causal mask and the sliding window are lib/attention_score.wgsl's.

struct Params {
  rows: u32,  // B * T * NH, the number of query rows
  T: u32,
  S: u32,
  NH: u32,
  KV: u32,
  pos0: u32,
  scale: f32,   // the score scale, 1 / sqrt(HS) unless the launch gives another
  window: u32,  // the sliding window W (lib/attention_score.wgsl), 0 for none; at most S
}

@group(0) @binding(FIRST_INPUT) var<storage, read> q: array<Elem>;
@group(0) @binding(FIRST_INPUT + 1u) var<storage, read> k: array<Elem>;
@group(0) @binding(FIRST_INPUT + 2u) var<storage, read> v: array<Elem>;
@group(0) @binding(FIRST_INPUT + 3u) var<storage, read> mask: array<u32>;
@group(0) @binding(FIRST_INPUT + 4u) var<uniform> params: Params;
