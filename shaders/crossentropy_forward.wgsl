// Cross-entropy forward over one chunk of rows of logits, one workgroup per row.
// For chunk row r (0 <= r < rows), global position g = row0 + r:
//   lse[g]    = log(sum_v exp(logits[r, v]))
//   losses[g] = lse[g] - logits[r, targets[g]]   when targets[g] is a token id (0 <= id < V),
//   losses[g] = 0                                 when targets[g] < 0 (the position is not counted).
// logits: [rows, V], the chunk only; targets: i32 [B·T], the shifted labels of the whole batch
// (shiftedTargets in crossentropy.ts); losses, lse: [B·T], the whole batch, so that the chunks
// of one step fill them side by side and lse is there for the backward pass.
//
// Each invocation walks its strided slice of the row once with an online log-sum-exp: it keeps a
// running maximum m and s = sum exp(x - m), rescaling s when a larger x arrives. The workgroup then
// merges the (m, s) pairs in a tree: m = max(m1, m2), s = s1·exp(m1 - m) + s2·exp(m2 - m). Every
// exponent is of a non-positive number, so nothing overflows at any logit size. The loss is taken
// as (m - logit) + log(s), which keeps its precision when the target is the largest logit.
// Rows are addressed as workgroup_id.x + workgroup_id.y * num_workgroups.x (see grid1d).
//
// `per_row` is the barrier-free variant for devices where barriers are slow
// (src/gpu/kernels/barrier-policy.ts): one invocation per row
// (row = global_invocation_id.x + global_invocation_id.y * num_workgroups.x * 64). It walks the
// same WG strided slices one after the other, each with the online log-sum-exp, and folds each
// slice's (m, s) into a running pair with the same merge, so every sum is as short as in `main`.

struct Params {
  rows: u32,
  V: u32,
  row0: u32,
}

@group(0) @binding(0) var<storage, read_write> losses: array<f32>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<i32>;
@group(0) @binding(4) var<uniform> params: Params;

const WG: u32 = 256u;
// The most negative finite f32: the running maximum before any element is seen.
const LOWEST: f32 = -3.4028234663852886e38;
var<workgroup> wmax: array<f32, WG>;
var<workgroup> wsum: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }  // uniform per workgroup, so the barriers below stay uniform
  let V = params.V;
  let base = row * V;

  let ms = slice_lse(base, V, lid);
  wmax[lid] = ms.x;
  wsum[lid] = ms.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let m1 = wmax[lid];
      let m2 = wmax[lid + stride];
      let mm = max(m1, m2);
      wsum[lid] = wsum[lid] * exp(m1 - mm) + wsum[lid + stride] * exp(m2 - mm);
      wmax[lid] = mm;
    }
    workgroupBarrier();
  }

  if (lid == 0u) { write_row(row, base, wmax[0], wsum[0]); }
}

// The online log-sum-exp of one strided slice of a row, elements lane, lane + WG, ...: the
// running maximum m and s = sum exp(x - m), rescaling s when a larger x arrives. Returns (m, s).
fn slice_lse(base: u32, V: u32, lane: u32) -> vec2<f32> {
  var m = LOWEST;
  var s = 0.0;
  for (var v = lane; v < V; v += WG) {
    let x = logits[base + v];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  return vec2<f32>(m, s);
}

// The loss and lse of one row from its merged maximum mx and scaled sum s.
fn write_row(row: u32, base: u32, mx: f32, s: f32) {
  let g = params.row0 + row;
  let log_s = log(s);
  let t = targets[g];
  var loss = 0.0;
  if (t >= 0 && u32(t) < params.V) {
    loss = (mx - logits[base + u32(t)]) + log_s;
  }
  losses[g] = loss;
  lse[g] = mx + log_s;
}

@compute @workgroup_size(64)
fn per_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= params.rows) { return; }
  let V = params.V;
  let base = row * V;
  var mt = LOWEST;  // the running merged pair
  var st = 0.0;
  for (var lane = 0u; lane < min(WG, V); lane++) {
    let ms = slice_lse(base, V, lane);
    let m = ms.x;
    let s = ms.y;
    let mm = max(mt, m);
    st = st * exp(mt - mm) + s * exp(m - mm);
    mt = mm;
  }
  write_row(row, base, mt, st);
}
