// Token embedding lookup, with GPT-2's learned position embeddings when HAS_POSITIONS:
//   out[b, t, c] = wte[ids[b, t], c] * scale  (+ wpe[pos0 + t, c])
// scale is 1 (no multiplication at all) except for Gemma, whose embeddings are scaled by √C in
// f32 (Gemma3TextScaledWordEmbedding).
// ids: [B, T] (u32); wte: [V, C]; wpe: [P, C] with pos0 + T <= P (checked by the launcher);
// out: [B, T, C]. One invocation per element of out, addressed as
// global_invocation_id.x + global_invocation_id.y * (num_workgroups.x * WG) (see grid1d).
// An id >= V is clamped to V - 1 so that it never reads past wte; the caller validates ids on the
// CPU (assertTokenIds). When HAS_POSITIONS is false the launcher binds wte again in the wpe slot.
//
// A vocabulary larger than one binding comes in blocks (src/model/vocab-blocks.ts): wte then holds
// rows row0 .. row0 + rows - 1 of the whole [V, C] table, and the kernel, run once per block,
// writes only the out rows of the tokens in that range (the other blocks' launches write the
// rest). Unsplit, row0 = 0 and rows = V: every row is written.
//
// wte and wpe may each be stored as f32 or as f16 (two halves per 32-bit word, element 2i in the
// low half): the launcher binds each buffer twice, as f32 (`wte`, `wpe`) and as packed halves
// (`wte_f16`, `wpe_f16`), and sets WTE_F16 and WPE_F16; wte_at and wpe_at read whichever the
// override names (the other binding is never read). The sum is f32.

struct Params {
  B: u32,
  T: u32,
  C: u32,
  V: u32,
  pos0: u32,
  scale: f32,
  row0: u32,  // the first vocabulary row wte holds
  rows: u32,  // how many it holds
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<f32>;
@group(0) @binding(3) var<storage, read> wpe: array<f32>;
@group(0) @binding(4) var<storage, read> wte_f16: array<u32>;
@group(0) @binding(5) var<storage, read> wpe_f16: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

override HAS_POSITIONS: bool = false;
override WTE_F16: u32 = 0u;
override WPE_F16: u32 = 0u;

const WG: u32 = 256u;

// Element i of a packed-halves array: half i & 1 of word i / 2.
fn half_at(word: u32, i: u32) -> f32 {
  return unpack2x16float(word)[i & 1u];
}

fn wte_at(i: u32) -> f32 {
  if (WTE_F16 != 0u) { return half_at(wte_f16[i >> 1u], i); }
  return wte[i];
}

fn wpe_at(i: u32) -> f32 {
  if (WPE_F16 != 0u) { return half_at(wpe_f16[i >> 1u], i); }
  return wpe[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * (nwg.x * WG);
  let C = params.C;
  if (i >= params.B * params.T * C) { return; }
  let bt = i / C;  // the token's index in [B, T]
  let c = i % C;
  let id = min(ids[bt], params.V - 1u);
  if (id < params.row0 || id - params.row0 >= params.rows) { return; }  // another block's token
  var v = wte_at((id - params.row0) * C + c);
  if (params.scale != 1.0) { v = v * params.scale; }
  if (HAS_POSITIONS) {
    let t = bt % params.T;
    v += wpe_at((params.pos0 + t) * C + c);
  }
  out[i] = v;
}
