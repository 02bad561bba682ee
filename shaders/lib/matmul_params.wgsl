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
}
