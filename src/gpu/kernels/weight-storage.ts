// The two storages of a frozen weight that the matmul and embedding kernels read: f32, or f16
// (two halves per 32-bit word, see ../tensor.ts). A kernel that reads a weight declares it twice,
// as f32 values and as packed halves, and picks one with an override (WEIGHT_F16, or one per
// weight); its launcher binds the same buffer to both and sets the override from the dtype.
// Activations, biases and gradients are always f32.
import type { Tensor } from '../tensor.js';

const name = (t: Tensor, what: string) => (t.label ? `${what} (${t.label})` : what);

/** Whether `weight` is stored as f16; throws unless it is f32 or f16. */
export function weightIsF16(kernel: string, weight: Tensor, what = 'weight'): boolean {
  if (weight.dtype !== 'f32' && weight.dtype !== 'f16') {
    throw new Error(`${kernel}: ${name(weight, what)} must be stored as f32 or f16, not ${weight.dtype}`);
  }
  return weight.dtype === 'f16';
}

/** Throws unless every tensor is f32 (the activations, biases and gradients a kernel reads or writes). */
export function requireF32(kernel: string, tensors: Array<[Tensor, string]>): void {
  for (const [t, what] of tensors) {
    if (t.dtype !== 'f32') throw new Error(`${kernel}: ${name(t, what)} must be f32, not ${t.dtype}`);
  }
}

/**
 * The tensors for a kernel's two weight bindings: [f32 slot, packed-f16 slot]. Both get the weight,
 * except that an f16 weight smaller than one vec4 (16 bytes: fewer than 8 halves) cannot be bound
 * where a kernel declares its f32 twin as array<vec4<f32>>, whose minimum binding size is 16
 * bytes; then the unused f32 slot gets `filler`, another read-only tensor of the same launch.
 */
export function weightBindings(weight: Tensor, filler: Tensor): [Tensor, Tensor] {
  return [weight.dtype === 'f16' && weight.byteLength < 16 ? filler : weight, weight];
}

/** Whether weightBindings(weight, filler) can fill an array<vec4<f32>> slot (one of them holds 16 bytes). */
export const vec4SlotFillable = (weight: Tensor, filler: Tensor): boolean =>
  weight.dtype !== 'f16' || weight.byteLength >= 16 || filler.byteLength >= 16;
