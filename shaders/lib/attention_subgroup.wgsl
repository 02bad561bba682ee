// The work split and entry point of the subgroup attention kernels (attention_subgroup_*.wgsl):
// one SUBGROUP per row, for devices with subgroups and the subgroup_id builtins. This part opens
// with the module's directives, so it comes first in a composition.
//
// The lanes of a subgroup share one row and split the head dimension strided: lane `lane` of a
// subgroup of `sg` lanes owns the dimensions d = lane + i * sg (i = 0, 1, ... while d < HS), so
// consecutive lanes read consecutive floats of the rows. For each pair of rows (query and key)
// every lane dots its own dimensions and one subgroupAdd hands all lanes the whole sum; what
// follows from the sums is then the same in every lane, and each lane accumulates only its own
// dimensions. No workgroup memory, no barriers.
//
// The subgroup size is known only as the shader runs (anything from the adapter's subgroupMinSize
// to its subgroupMaxSize), so the dispatch does not depend on it: each workgroup of WG invocations
// takes a block of ROWS_PER_WG = WG / subgroupMinSize consecutive rows, and its subgroups take the
// rows subgroup_id, subgroup_id + num_subgroups, ... of the block. DIMS_PER_LANE =
// ceil(HS / subgroupMinSize) bounds each lane's share, and so its private arrays (at most
// MAX_DIMS_PER_LANE; the launcher takes the per-row kernels beyond that). WG = 128 is a multiple of
// every subgroup size WebGPU allows, so every subgroup is full. The kernel part declares
// fn run_row(row: u32, lane: u32, sg: u32), which one subgroup calls for each of its rows.
//
// Uniformity: every branch around a subgroupAdd (the row loop here, the kernels' loops over keys
// or queries, the mask and lse tests) depends only on values that are the same across a subgroup
// (its row, the loop index, a mask or stats element that all lanes read), so all lanes of a
// subgroup reach each subgroupAdd together. WGSL's uniformity analysis sees that only where the
// implementation has the `subgroup_uniformity` language feature (Dawn here does); the diagnostic
// filter keeps the others from rejecting the shader.
enable subgroups;
requires subgroup_id;
diagnostic(off, subgroup_uniformity);

override DIMS_PER_LANE: u32 = 16u;  // ceil(HS / subgroupMinSize)
override ROWS_PER_WG: u32 = 32u;    // WG / subgroupMinSize
const MAX_DIMS_PER_LANE: u32 = 64u;
const WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32) {
  let first = (wid.x + wid.y * nwg.x) * ROWS_PER_WG;
  for (var r = sid; r < ROWS_PER_WG; r += nsg) {
    let row = first + r;
    if (row >= params.rows) { break; }
    run_row(row, lane, sg);
  }
}
