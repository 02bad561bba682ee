// The storage formats of a frozen weight and the WGSL reader of each: the matmuls
// that read a frozen weight (x·Wᵀ and dy·W) compose a reader into their module (../wgsl.ts)
// instead of reading storage themselves, so a kernel is written once and a new format is one
// reader plus its tests (test/kernels/weight-format.test.ts).
//
// A reader declares the weight's binding, at the slot the kernel names with a `WEIGHT_BINDING`
// constant, and one function, by the view the kernel reads through:
//   'scalar': weight_at(i) -> f32, element i (shaders/weights/<format>.wgsl);
//   'vec4':   weight4_at(i) -> vec4<f32>, elements 4 i .. 4 i + 3, for kernels whose weight rows
//             have a multiple of 4 elements (shaders/weights/<format>_vec4.wgsl, or the scalar
//             view's file where one file declares both functions over one binding).
// Values are widened to f32 as read; the kernels multiply and add in f32 whatever the format.
// The formats: f32; f16 (two halves a word); nf4 and q8, quantized in blocks and dequantized as
// read (../quant/: NF4 in blocks of 64, GGUF's Q8_0 in blocks of 32 along rows, 9 words a block;
// one file serves both views, since a block's words hold any 4 aligned elements together), never
// expanded into a dequantized copy.
// Each format is its own pipeline (weightKernel makes one KernelSpec per format); the launcher
// picks it from the weight tensor's dtype (weightFormat). Activations, biases and gradients are
// always f32 (requireF32). The embedding gather reads f32 or f16 tables with its own override
// (embedding.ts), as a gather of rows, not a matmul.
import f16Code from '../../../shaders/weights/f16.wgsl?raw';
import f16Vec4Code from '../../../shaders/weights/f16_vec4.wgsl?raw';
import f32Code from '../../../shaders/weights/f32.wgsl?raw';
import f32Vec4Code from '../../../shaders/weights/f32_vec4.wgsl?raw';
import nf4Code from '../../../shaders/weights/nf4.wgsl?raw';
import q8Code from '../../../shaders/weights/q8.wgsl?raw';
import type { KernelSpec } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import type { WgslPart } from '../wgsl.js';

export type WeightFormat = 'f32' | 'f16' | 'nf4' | 'q8';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'f16', 'nf4', 'q8'];
/** The formats that store floating-point values (the embedding gather reads only these). */
const FLOAT_FORMATS: readonly WeightFormat[] = ['f32', 'f16'];

/** How a kernel reads its weight: element by element, or four consecutive elements at once. */
export type WeightView = 'scalar' | 'vec4';

export const WEIGHT_READERS: Record<WeightFormat, Record<WeightView, WgslPart>> = {
  f32: { scalar: { name: 'weights/f32.wgsl', code: f32Code }, vec4: { name: 'weights/f32_vec4.wgsl', code: f32Vec4Code } },
  f16: { scalar: { name: 'weights/f16.wgsl', code: f16Code }, vec4: { name: 'weights/f16_vec4.wgsl', code: f16Vec4Code } },
  nf4: { scalar: { name: 'weights/nf4.wgsl', code: nf4Code }, vec4: { name: 'weights/nf4.wgsl', code: nf4Code } },
  q8: { scalar: { name: 'weights/q8.wgsl', code: q8Code }, vec4: { name: 'weights/q8.wgsl', code: q8Code } },
};

/** A kernel that reads a frozen weight: its name, how it reads it, and one spec per weight format. */
export interface WeightKernel<D> {
  name: string;
  view: WeightView;
  formats: Record<WeightFormat, KernelSpec<D>>;
}

/**
 * A kernel that reads its weight through `view`, built for each format: `build(reader)` gives the
 * kernel's spec with the format's reader composed in (its code declares WEIGHT_BINDING and reads
 * the weight only through the view's function). The specs keep the kernel's name, so profiles and
 * benchmarks name the kernel, not its format.
 */
export function weightKernel<D>(view: WeightView, build: (reader: WgslPart) => KernelSpec<D>): WeightKernel<D> {
  const formats = {} as Record<WeightFormat, KernelSpec<D>>;
  for (const format of WEIGHT_FORMATS) formats[format] = build(WEIGHT_READERS[format][view]);
  return { name: formats.f32.name, view, formats };
}

const name = (t: Tensor, what: string) => (t.label ? `${what} (${t.label})` : what);

/** The format `weight` is stored in; throws unless it is one a weight reader exists for. */
export function weightFormat(kernel: string, weight: Tensor, what = 'weight'): WeightFormat {
  const format = WEIGHT_FORMATS.find((f) => f === weight.dtype);
  if (!format) {
    const quantized = WEIGHT_FORMATS.filter((f) => !FLOAT_FORMATS.includes(f));
    throw new Error(`${kernel}: ${name(weight, what)} must be stored as ${FLOAT_FORMATS.join(' or ')}, not ${weight.dtype} (or quantized as ${quantized.join(' or ')})`);
  }
  return format;
}

/** Whether `weight` is stored as f16 (the embedding gather's override); throws unless f32 or f16. */
export function weightIsF16(kernel: string, weight: Tensor, what = 'weight'): boolean {
  if (!FLOAT_FORMATS.includes(weight.dtype as WeightFormat)) {
    throw new Error(`${kernel}: ${name(weight, what)} must be stored as ${FLOAT_FORMATS.join(' or ')}, not ${weight.dtype}`);
  }
  return weight.dtype === 'f16';
}

/** Throws unless every tensor is f32 (the activations, biases and gradients a kernel reads or writes). */
export function requireF32(kernel: string, tensors: Array<[Tensor, string]>): void {
  for (const [t, what] of tensors) {
    if (t.dtype !== 'f32') throw new Error(`${kernel}: ${name(t, what)} must be f32, not ${t.dtype}`);
  }
}
