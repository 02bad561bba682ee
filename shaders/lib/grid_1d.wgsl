// The entry point of a one-dimensional kernel (src/gpu/kernels/grid-1d.ts): WG invocations per
// workgroup, WG set by the kernel's descriptor (its workgroupSize), and the flat invocation index
//   i = global_invocation_id.x + global_invocation_id.y · num_workgroups.x · WG
// (grid1d spreads the workgroups over y past 65535). The kernel declares
//   fn invocations() -> u32   how many indices there are (the rest of the last workgroup idles);
//   fn element(i: u32)        the work of index i.

override WG: u32;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * (nwg.x * WG);
  if (i < invocations()) { element(i); }
}
