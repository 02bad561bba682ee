// The rows of the attention kernels, from their flat indices, and the other indices they share:
// part of every attention kernel but attention_backward_prep.wgsl (whose params have no KV).
// `params` is the kernel's uniform (attention_forward_io.wgsl or attention_backward_io.wgsl), of
// which T, NH and KV are read; HS is the head size, an override constant.
//
// q, out, dout, dq: [B, T, NH, HS], one query row (b, t, h) at row = (b * T + t) * NH + h.
// k, v, dk, dv: [B, S, KV, HS] (S = T in training), one key row (b, j, g) at (b * S + j) * KV + g.
// lse, stats: [B, NH, T], the entry of query row (b, t, h) at (b * NH + h) * T + t.
// Head h reads kv head h / (NH / KV) (grouped-query attention; NH is a multiple of KV).

override HS: u32 = 64u;

// The forward writes lse = NO_KEY_LSE for a query row with no allowed key (a padding query of a
// left-padded row); the backward kernels take anything below half of it for that.
const NO_KEY_LSE: f32 = -1e30;
const NO_KEY_BELOW: f32 = -5e29;

struct QueryRow {
  b: u32,
  t: u32,
  h: u32,
  kvh: u32,  // the kv head that head h reads
}

// The query row (b, t, h) of row index (b * T + t) * NH + h, and its kv head.
fn query_row(row: u32) -> QueryRow {
  let bt = row / params.NH;  // b * T + t
  let h = row % params.NH;
  return QueryRow(bt / params.T, bt % params.T, h, h / (params.NH / params.KV));
}

struct KeyRow {
  b: u32,
  j: u32,
  g: u32,
}

// The key row (b, j, g) of row index (b * T + j) * KV + g, in the training layout (S = T).
fn key_row(row: u32) -> KeyRow {
  let bj = row / params.KV;  // b * T + j
  return KeyRow(bj / params.T, bj % params.T, row % params.KV);
}

// The query heads h0 .. h1 - 1 that read kv head g, as (h0, h1): g * (NH / KV) .. (g + 1) * (NH / KV) - 1.
fn query_heads(g: u32) -> vec2<u32> {
  let group = params.NH / params.KV;
  return vec2<u32>(g * group, g * group + group);
}

// The query row index of (b, t, h), in rows of HS: (b * T + t) * NH + h.
fn query_index(b: u32, t: u32, h: u32) -> u32 {
  return (b * params.T + t) * params.NH + h;
}

// The index of query row (b, t, h) in lse and stats [B, NH, T].
fn stat_index(b: u32, t: u32, h: u32) -> u32 {
  return (b * params.NH + h) * params.T + t;
}
