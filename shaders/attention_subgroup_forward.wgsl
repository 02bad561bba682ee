// Causal scaled-dot-product attention, forward, one SUBGROUP per query row: the variant of
// attention_forward.wgsl for devices with subgroups. Same inputs, outputs and math; read that
// file's header for the layouts, the mask, grouped-query heads and the KV-cache offsets, and
// lib/attention_subgroup.wgsl (composed first) for the work split and the entry point; the window
// and the softcap are lib/attention_score.wgsl's:
//
// q, out: [B, T, NH, HS], queries at absolute positions pos0 .. pos0 + T - 1.
// k, v:   [B, S, KV, HS], cache positions 0 .. S - 1 (only 0 .. pos0 + T - 1 need be filled).
// mask:   u32 [B, S], 1 where the key position holds a real token, 0 for padding.
// lse:    [B, NH, T], the log-sum-exp of each query row's scaled scores (-1e30 with out = 0 for
//         a query that may attend to no key).
// The query (b, t, h) at p = pos0 + t attends to keys first_key(p) <= j <= p (p - W < j with a
// sliding window of W) with mask[b, j] != 0 of kv head h / (NH / KV); score_j = (q . k_j) * scale
// (1 / sqrt(HS) by default), softcapped if SOFTCAP > 0; out = softmax(score) . v, by an online softmax.
//
// Lane `lane` of the row's subgroup of `sg` lanes owns the dimensions d = lane + i * sg < HS of
// q, out and the accumulator. For each key every lane dots its own dimensions and subgroupAdd
// hands all lanes the whole score; the online softmax state (m, l) is then the same in every
// lane, and each lane rescales and accumulates only its own dimensions of the output.

alias Elem = f32;
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
const FIRST_INPUT: u32 = 2u;

fn run_row(row: u32, lane: u32, sg: u32) {
  let r = query_row(row);
  let p = params.pos0 + r.t;
  let first = first_key(p);
  let last = min(p + 1u, params.S);  // keys first .. last - 1

  // This lane's dimensions of the scaled query, and of the output accumulator (zero-initialised).
  var qr: array<f32, MAX_DIMS_PER_LANE>;
  var acc: array<f32, MAX_DIMS_PER_LANE>;
  let qbase = row * HS + lane;
  for (var i = 0u; i < DIMS_PER_LANE; i++) {
    if (lane + i * sg < HS) { qr[i] = q[qbase + i * sg] * params.scale; }
  }

  // Online softmax: m is the largest score seen, l = sum_j exp(score_j - m), acc = sum_j exp(score_j - m) v_j.
  var m = NO_KEY_LSE;
  var l = 0.0;
  let kvStride = params.KV * HS;
  var kvbase = ((r.b * params.S + first) * params.KV + r.kvh) * HS + lane;
  for (var j = first; j < last; j++) {
    if (mask[r.b * params.S + j] != 0u) {
      var part = 0.0;
      for (var i = 0u; i < DIMS_PER_LANE; i++) {
        if (lane + i * sg < HS) { part += qr[i] * k[kvbase + i * sg]; }
      }
      var s = subgroupAdd(part);
      if (SOFTCAP > 0.0) { s = capped_score(s); }
      if (s > m) {
        // A new maximum: rescale what has been accumulated so far (the factor is 0 at the first key).
        let c = exp(m - s);
        l *= c;
        for (var i = 0u; i < DIMS_PER_LANE; i++) { acc[i] *= c; }
        m = s;
      }
      let w = exp(s - m);
      l += w;
      for (var i = 0u; i < DIMS_PER_LANE; i++) {
        if (lane + i * sg < HS) { acc[i] += w * v[kvbase + i * sg]; }
      }
    }
    kvbase += kvStride;
  }

  // A row with no allowed key has l = 0: out = 0 and lse = NO_KEY_LSE, as attention_forward.wgsl.
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var i = 0u; i < DIMS_PER_LANE; i++) {
    if (lane + i * sg < HS) { out[qbase + i * sg] = acc[i] * inv; }
  }
  if (lane == 0u) {
    lse[stat_index(r.b, r.t, r.h)] = select(NO_KEY_LSE, m + log(l), l > 0.0);
  }
}
