// Cross-entropy backward, in place over one chunk of logits, one invocation per element:
//   dlogits[r, v] = (exp(logits[r, v] - lse[g]) - [v == targets[g]]) · dscale   for counted rows,
//   dlogits[r, v] = 0                                                            otherwise,
// where g = row0 + r is the row's global position and a row is counted when 0 <= targets[g] < V.
// exp(logits - lse) is the softmax; dscale is d loss / d (per-row loss), 1/count for the mean.
// With softcap = c > 0 the logits were softcapped (softcap_forward.wgsl: capped = c * tanh(raw / c))
// and the gradient is taken on to the raw logits: times d capped / d raw = 1 - (capped / c)^2.
// dlogits: [rows, V], the chunk's logits, overwritten by their gradient (each element is read and
// written by the same invocation only); lse: [B·T], saved by crossentropy_forward; targets: i32
// [B·T]. Columns v are workgroup_id.x · WG + local index; rows r are workgroup_id.y +
// workgroup_id.z · num_workgroups.y, so V up to 65535·WG and any row count fit the grid.

struct Params {
  rows: u32,
  V: u32,
  row0: u32,
  dscale: f32,
  softcap: f32,  // 0: none
}

@group(0) @binding(0) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(1) var<storage, read> lse: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let V = params.V;
  let v = wid.x * WG + lid;
  let row = wid.y + wid.z * nwg.y;
  if (v >= V || row >= params.rows) { return; }
  let g = params.row0 + row;
  let i = row * V + v;
  let t = targets[g];
  if (t < 0 || u32(t) >= V) {
    dlogits[i] = 0.0;
    return;
  }
  let x = dlogits[i];
  let p = exp(x - lse[g]);
  var d = (p - select(0.0, 1.0, u32(t) == v)) * params.dscale;
  if (params.softcap > 0.0) {
    let th = x / params.softcap;
    d = d * (1.0 - th * th);
  }
  dlogits[i] = d;
}
