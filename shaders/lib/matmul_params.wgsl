// The uniform parameters of every matmul kernel (src/gpu/kernels/matmul/params.ts packs them in
// this order; each kernel reads the fields it needs and binds `params` at its own slot).

struct Params {
  M: u32,          // rows of the output, and of inp / dout
  N: u32,          // output features of the forward layer
  K: u32,          // input features of the forward layer
  scale: f32,      // multiplies the product (1 where a kernel takes none)
  R: u32,          // the rank of a fused LoRA term (0: none)
  lora_scale: f32, // its factor
  split: u32,      // the slice of a split reduction: n per split (tile64 backward), rows per split (tile16x128)
  ld: u32,         // the row stride of the [M, N] operand (out forward, dout backward): N, or more
  col0: u32,       // for a column block of a wider matrix (a split LM head), and its first column
}

// Where element (m, n) of the [M, N] operand (out forward, dout backward) lies: row m of a
// row-major matrix with row stride ld, column col0 + n. (ld = N, col0 = 0: the operand itself.)
fn mn_index(m: u32, n: u32) -> u32 {
  return m * params.ld + params.col0 + n;
}
