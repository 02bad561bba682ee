// Causal scaled-dot-product attention, forward, the vec4 variant of attention_forward.wgsl for head
// sizes that are a multiple of 4 (HS <= MAX_HS = 128): same math, masks, grouped-query heads,
// KV-cache layout, pos0 and results, with q, k, v and out read and written four dimensions at a
// time. It exists for SwiftShader (and GPUs without subgroups), where the scalar kernel spends its
// time on one robustness-clamped load per dimension and on dynamically indexed MAX_HS = 256 arrays.
// Composed with lib/attention_forward_io.wgsl (the inputs and params), lib/attention_rows.wgsl,
// lib/attention_score.wgsl (the window and the softcap) and lib/attention_per_row.wgsl (the entry
// point).
//
// q, out: [B, T, NH, HS], queries at absolute positions pos0 .. pos0 + T - 1, as HS / 4 vec4 each.
// k, v:   [B, S, KV, HS], cache positions 0 .. S - 1 (only 0 .. pos0 + T - 1 need be filled).
// mask:   u32 [B, S], 1 where the key position holds a real token, 0 for padding.
// lse:    [B, NH, T], the log-sum-exp of each query row's scaled scores, saved for the backward pass.
// Head h reads kv head h / (NH / KV) (grouped-query attention; NH is a multiple of KV).
//
// For the query (b, t, h) at position p = pos0 + t, the allowed keys are j in [first_key(p), p]
// (p - W < j with a sliding window of W) with mask[b, j] != 0; score_j = (q . k_j) * scale
// (scale = 1 / sqrt(HS) by default), softcapped to SOFTCAP * tanh(score_j / SOFTCAP) if SOFTCAP > 0;
//   out[b, t, h] = sum_j softmax(score)_j * v_j,   lse[b, h, t] = log(sum_j exp(score_j)).
// A query with no allowed key (a padding position in a left-padded row) gets out = 0 and
// lse = -1e30, never NaN; keys that are masked or not yet filled are never read.
//
// One invocation per query row (b, t, h), row index = (b * T + t) * NH + h, on a 2D grid of
// 64-wide workgroups (see grid1d); no workgroup barriers. HS is an override constant; the private
// query copy and output accumulator hold MAX_HS / 4 vec4, of which the first HS / 4 are used.
//
// Heads of at most 16 (HS / 4 <= 4, stories260K's 8 among them) take a path with the row in vec4
// registers and the loops over the head written out, guarded by branches on HS / 4, a constant
// once the pipeline is built: on SwiftShader every access to a dynamically indexed
// private array is a per-lane gather or scatter, and this path is ~3x faster than the array one
// there at HS = 8. Larger heads loop over private arrays of MAX_HS / 4 vec4.

alias Elem = vec4<f32>;
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
const FIRST_INPUT: u32 = 2u;

const MAX_HS4: u32 = 32u;  // MAX_HS / 4 with MAX_HS = 128

fn run_row(row: u32) {
  let H4 = HS / 4u;
  let r = query_row(row);
  let p = params.pos0 + r.t;
  let first = first_key(p);
  let last = min(p + 1u, params.S);  // keys first .. last - 1; the clamp only guards a caller's mistake

  var m = NO_KEY_LSE;
  var l = 0.0;
  let kvStride = params.KV * H4;
  var kvbase = ((r.b * params.S + first) * params.KV + r.kvh) * H4;
  let mbase = r.b * params.S;
  let qbase = row * H4;
  var acc: array<vec4<f32>, MAX_HS4>;
  if (H4 <= 4u) {
    // Small heads (HS <= 16): the query and accumulator in registers, the loops over the head
    // written out (the branches on the constant H4 fold away), no dynamically indexed arrays.
    let q0 = q[qbase] * params.scale;
    var q1 = vec4<f32>(0.0); var q2 = vec4<f32>(0.0); var q3 = vec4<f32>(0.0);
    if (H4 > 1u) { q1 = q[qbase + 1u] * params.scale; }
    if (H4 > 2u) { q2 = q[qbase + 2u] * params.scale; }
    if (H4 > 3u) { q3 = q[qbase + 3u] * params.scale; }
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    for (var j = first; j < last; j++) {
      if (mask[mbase + j] != 0u) {
        var s = dot(q0, k[kvbase]);
        if (H4 > 1u) { s += dot(q1, k[kvbase + 1u]); }
        if (H4 > 2u) { s += dot(q2, k[kvbase + 2u]); }
        if (H4 > 3u) { s += dot(q3, k[kvbase + 3u]); }
        if (SOFTCAP > 0.0) { s = capped_score(s); }
        let mNew = max(m, s);
        let c = exp(m - mNew);
        let w = exp(s - mNew);
        l = l * c + w;
        m = mNew;
        a0 = a0 * c + w * v[kvbase];
        if (H4 > 1u) { a1 = a1 * c + w * v[kvbase + 1u]; }
        if (H4 > 2u) { a2 = a2 * c + w * v[kvbase + 2u]; }
        if (H4 > 3u) { a3 = a3 * c + w * v[kvbase + 3u]; }
      }
      kvbase += kvStride;
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
  } else {
    var qr: array<vec4<f32>, MAX_HS4>;
    for (var d = 0u; d < H4; d++) { qr[d] = q[qbase + d] * params.scale; }
    // Online softmax: m is the largest score seen, l = sum_j exp(score_j - m), acc = sum_j exp(score_j - m) v_j.
    for (var j = first; j < last; j++) {
      if (mask[mbase + j] != 0u) {
        var s = 0.0;
        for (var d = 0u; d < H4; d++) { s += dot(qr[d], k[kvbase + d]); }
        if (SOFTCAP > 0.0) { s = capped_score(s); }
        // exp(m - s) is 0 at the first key (m = -1e30), so acc and l start from their zeros.
        let mNew = max(m, s);
        let c = exp(m - mNew);
        let w = exp(s - mNew);
        l = l * c + w;
        for (var d = 0u; d < H4; d++) { acc[d] = acc[d] * c + w * v[kvbase + d]; }
        m = mNew;
      }
      kvbase += kvStride;
    }
  }

  let si = stat_index(r.b, r.t, r.h);
  if (l > 0.0) {
    let inv = 1.0 / l;
    for (var d = 0u; d < H4; d++) { out[qbase + d] = acc[d] * inv; }
    lse[si] = m + log(l);
  } else {
    for (var d = 0u; d < H4; d++) { out[qbase + d] = vec4<f32>(0.0); }
    lse[si] = NO_KEY_LSE;
  }
}
