// CPU reference for the residual add: out = a + b for each element. The sum of two f32 values is
// exact in double, so storing it into a Float32Array rounds once, exactly as an f32 add does.
export function residualForwardRef(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}
