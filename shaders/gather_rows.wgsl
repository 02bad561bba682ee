// Rows picked by an index list, one invocation per copied element:
//   gather:            out[j, c] = inp[rows[j], c]
//   SCATTER:           out[rows[j], c] = inp[j, c]
// for j in [0, n), c in [0, C); rows: [n] u32, each a row of the indexed tensor (the launcher
// checks that they are in range; a scatter's rows must be distinct). The training pass gathers
// the positions that have a label before the LM head, so logits are computed only where the loss
// needs them, and scatters their gradient back (src/model/train-pass.ts). No backward pass of its
// own: a gather's backward is the scatter with the same rows, into zeros.
// One invocation per element i, from the entry point of lib/grid_1d.wgsl,
// i = j * C + c.

struct Params {
  n: u32,
  C: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

override SCATTER: bool = false;

fn invocations() -> u32 { return params.n * params.C; }

fn element(i: u32) {
  let j = i / params.C;
  let c = i % params.C;
  let r = rows[j];
  if (SCATTER) {
    out[r * params.C + c] = inp[i];
  } else {
    out[i] = inp[r * params.C + c];
  }
}
