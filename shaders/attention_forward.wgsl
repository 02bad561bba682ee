// Causal scaled-dot-product attention, forward, with grouped-query heads, a key padding mask and
// keys/values read from a cache layout. Flash-style: an online softmax (running max and sum) over
// the keys, so no T x S score matrix is ever stored. Composed with lib/attention_forward_io.wgsl
// (the inputs and params), lib/attention_rows.wgsl, lib/attention_score.wgsl (the window and the
// softcap) and lib/attention_per_row.wgsl (the entry point).
//
// q, out: [B, T, NH, HS], queries at absolute positions pos0 .. pos0 + T - 1.
// k, v:   [B, S, KV, HS], cache positions 0 .. S - 1 (only 0 .. pos0 + T - 1 need be filled).
// mask:   u32 [B, S], 1 where the key position holds a real token, 0 for padding.
// lse:    [B, NH, T], the log-sum-exp of each query row's scaled scores, saved for the backward pass.
// Head h reads kv head h / (NH / KV) (grouped-query attention; NH is a multiple of KV).
//
// For the query (b, t, h) at position p = pos0 + t, the allowed keys are j in [first_key(p), p]
// (all of [0, p] without a sliding window; p - W < j with a window of W) with mask[b, j] != 0;
// score_j = (q . k_j) * scale (scale = 1 / sqrt(HS) by default), softcapped to
// SOFTCAP * tanh(score_j / SOFTCAP) when SOFTCAP > 0;
//   out[b, t, h] = sum_j softmax(score)_j * v_j,   lse[b, h, t] = log(sum_j exp(score_j)).
// A query with no allowed key (a padding position in a left-padded row) gets out = 0 and
// lse = -1e30, never NaN; its softmax weights are all zero, which the backward pass must honour.
//
// One invocation per query row (b, t, h), row index = (b * T + t) * NH + h, laid out on a 2D grid
// of 64-wide workgroups (see grid1d). Neighbouring invocations are the heads of one position, so
// the heads of a kv group read the same keys together. There are no workgroup barriers.
//
// HS is an override constant: it bounds every loop over the head dimension. WGSL allows
// override-sized arrays only in workgroup memory, so the per-invocation query copy and output
// accumulator are private arrays of the fixed size MAX_HS, of which the first HS are used.

alias Elem = f32;
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
const FIRST_INPUT: u32 = 2u;

const MAX_HS: u32 = 256u;

fn run_row(row: u32) {
  let r = query_row(row);
  let p = params.pos0 + r.t;
  let first = first_key(p);
  let last = min(p + 1u, params.S);  // keys first .. last - 1; the clamp only guards a caller's mistake

  var qr: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  let qbase = row * HS;
  for (var d = 0u; d < HS; d++) {
    qr[d] = q[qbase + d] * params.scale;
    acc[d] = 0.0;
  }

  // Online softmax: m is the largest score seen, l = sum_j exp(score_j - m), acc = sum_j exp(score_j - m) v_j.
  var m = NO_KEY_LSE;
  var l = 0.0;
  let kvStride = params.KV * HS;
  var kvbase = ((r.b * params.S + first) * params.KV + r.kvh) * HS;
  for (var j = first; j < last; j++) {
    if (mask[r.b * params.S + j] != 0u) {
      var s = 0.0;
      for (var d = 0u; d < HS; d++) { s += qr[d] * k[kvbase + d]; }
      if (SOFTCAP > 0.0) { s = capped_score(s); }
      if (s > m) {
        // A new maximum: rescale what has been accumulated so far (the factor is 0 at the first key).
        let c = exp(m - s);
        l *= c;
        for (var d = 0u; d < HS; d++) { acc[d] *= c; }
        m = s;
      }
      let w = exp(s - m);
      l += w;
      for (var d = 0u; d < HS; d++) { acc[d] += w * v[kvbase + d]; }
    }
    kvbase += kvStride;
  }

  let obase = row * HS;
  if (l > 0.0) {
    let inv = 1.0 / l;
    for (var d = 0u; d < HS; d++) { out[obase + d] = acc[d] * inv; }
    lse[stat_index(r.b, r.t, r.h)] = m + log(l);
  } else {
    for (var d = 0u; d < HS; d++) { out[obase + d] = 0.0; }
    lse[stat_index(r.b, r.t, r.h)] = NO_KEY_LSE;
  }
}
