// Pass 2 of the split matmuls: adds up the S partial sums that pass 1 wrote (matmul_weight_grad_split,
// or matmul_backward with SPLIT_N), in split order, into the output:
//   out[i] = (ACCUMULATE ? out[i] : 0) + scale * sum_{s = 0..S-1} partials[s * count + i]
// out: [count] (the output matrix flattened); partials: [S, count].
// One invocation per element, scalar loads, so any count works (no multiple of 4 needed); the
// partials are a few times the size of the output at most, so this pass is short next to pass 1.
// The sum starts at 0.0 and adds s = 0, 1, ..., S-1 in turn, then is scaled and added to the old
// value as the unsplit kernels do (scale * sum, then + out): the same bits on every run.
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.

struct Params {
  count: u32,   // elements of out
  splits: u32,  // S
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override ACCUMULATE: bool = false;

fn invocations() -> u32 { return params.count; }

fn element(i: u32) {
  let count = params.count;
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    sum += partials[s * count + i];
  }
  var v = params.scale * sum;
  if (ACCUMULATE) { v += out[i]; }
  out[i] = v;
}
