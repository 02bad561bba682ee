// The entry point of the per-row attention kernels (attention_forward.wgsl,
// attention_backward_*.wgsl and attention_vec4_*.wgsl): one invocation per row, row index
// (wid.x + wid.y * nwg.x) * WG + lid on the 2D grid of WG-wide workgroups that grid1d lays out;
// an invocation past params.rows does nothing. The kernel part declares fn run_row(row: u32),
// which computes one row on its own: no workgroup memory, no barriers.

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row < params.rows) { run_row(row); }
}
