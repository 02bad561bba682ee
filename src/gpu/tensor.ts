// Tensors: a GPU storage buffer with a shape and an element type, row-major. f32, i32 and u32
// take 4 bytes an element; f16 takes 2, packed two to a 32-bit word (element 2i in the low half,
// as WGSL's unpack2x16float reads them; kernels bind such a tensor as array<u32> or
// array<vec2<u32>>), so frozen weights can be stored at half the memory without the shader-f16
// feature. On the CPU an f16 tensor reads and writes as a Float32Array.
// nf4 and q8 are frozen weights quantized in blocks (./quant/layout.ts: 9 words per block of 64
// or 32 elements), read only by the weight readers: such a tensor is created from, written with
// and read back as its packed words (a Uint32Array from quantizeNf4 / quantizeQ8), whole; its
// views start on a block. A q8 tensor's rows (its last dimension) are a multiple of 32 long.
import { forgetBuffer } from './bind-cache.js';
import type { GpuContext } from './device.js';
import { packF16, unpackF16 } from './f16.js';
import { BLOCK_LAYOUT, isQuantDType, quantWords, type QuantDType } from './quant/layout.js';

export type DType = 'f32' | 'i32' | 'u32' | 'f16' | QuantDType;
export type TypedArrayOf<T extends DType> = T extends 'f32' | 'f16' ? Float32Array : T extends 'i32' ? Int32Array : Uint32Array;

const ARRAY_OF: Record<Exclude<DType, 'f16' | QuantDType>, Float32ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor> = {
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
};

/** Bytes of one element (not defined for the block formats nf4 and q8: see storageBytes). */
export function elementBytes(dtype: DType): number {
  if (isQuantDType(dtype)) throw new Error(`${dtype} stores blocks of ${BLOCK_LAYOUT[dtype].elements} elements in ${BLOCK_LAYOUT[dtype].words} words, not a whole number of bytes per element`);
  return dtype === 'f16' ? 2 : 4;
}

/**
 * Bytes of n elements as stored: whole 32-bit words, at least one (WebGPU cannot bind an empty
 * buffer); nf4 and q8, whole blocks (q8: n a multiple of 32).
 */
export const storageBytes = (dtype: DType, n: number): number =>
  Math.max(4, isQuantDType(dtype) ? quantWords(dtype, n) * 4 : Math.ceil((n * elementBytes(dtype)) / 4) * 4);

/** Where element e starts, in bytes; nf4 and q8: e on a block boundary. */
function bytesBefore(dtype: DType, e: number): number {
  if (!isQuantDType(dtype)) return e * elementBytes(dtype);
  const { elements, words } = BLOCK_LAYOUT[dtype];
  if (e % elements !== 0) throw new Error(`${dtype}: element ${e} is not on a block boundary (blocks of ${elements})`);
  return (e / elements) * words * 4;
}

/** Throws unless `data` is the packed words of a whole `dtype` tensor of n elements (nf4, q8). */
function checkPacked(what: string, dtype: QuantDType, data: ArrayLike<number>, n: number): void {
  const maker = dtype === 'nf4' ? 'quantizeNf4' : 'quantizeQ8';
  if (!(data instanceof Uint32Array)) throw new Error(`${what}: ${dtype} tensors take their packed words (a Uint32Array from ${maker}), not values`);
  const words = quantWords(dtype, n);
  if (data.length !== words) throw new Error(`${what}: ${data.length} words given; ${n} elements as ${dtype} are ${words} words (${maker})`);
}

/** The words a buffer of `dtype` holds for these values (f16: packed halves; nf4, q8: the packed words as given). */
function encode(dtype: DType, data: ArrayLike<number>): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'f16') return packF16(data);
  if (isQuantDType(dtype)) return data as Uint32Array;
  const A = ARRAY_OF[dtype];
  return data instanceof A ? (data as Float32Array) : new A(Array.from(data));
}

/** Bytes of live tensors on a device, and the most there have been since the last resetPeak. */
export interface GpuMemory {
  current: number;
  peak: number;
}

const memory = new WeakMap<GPUDevice, GpuMemory>();

/** The tensor memory of ctx's device: every createTensor counts until its tensor is destroyed. */
export function gpuMemory(ctx: GpuContext): GpuMemory {
  let m = memory.get(ctx.device);
  if (!m) memory.set(ctx.device, (m = { current: 0, peak: 0 }));
  return m;
}

/** Starts a new peak measurement at the current usage. */
export function resetPeak(ctx: GpuContext): void {
  const m = gpuMemory(ctx);
  m.peak = m.current;
}

export class Tensor<T extends DType = DType> {
  /** The account this tensor's buffer is counted in (only tensors that own their buffer). */
  private account: { memory: GpuMemory; bytes: number } | null = null;

  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: T,
    readonly label = '',
    /** Where the tensor starts in its buffer, in elements (a view into a larger buffer). */
    readonly offset = 0,
  ) {}

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Where the tensor starts in its buffer, in bytes. */
  get byteOffset(): number {
    return bytesBefore(this.dtype, this.offset);
  }

  /** The bytes a kernel binds for it: its elements in whole 32-bit words, at least one. */
  get byteLength(): number {
    return storageBytes(this.dtype, this.size);
  }

  /** Destroys the buffer (shared with every view of it) and drops the cached bind groups that bind it. */
  destroy(): void {
    forgetBuffer(this.buffer);
    this.buffer.destroy();
    if (this.account) this.account.memory.current -= this.account.bytes;
    this.account = null;
  }

  /** Counts this tensor's buffer in `memory` until destroy(). */
  countIn(memory: GpuMemory, bytes: number): this {
    memory.current += bytes;
    memory.peak = Math.max(memory.peak, memory.current);
    this.account = { memory, bytes };
    return this;
  }

  /**
   * A view of `shape` starting `elementOffset` elements into this tensor, sharing its buffer.
   * WebGPU binds storage buffers only at offsets that are multiples of
   * minStorageBufferOffsetAlignment (256 bytes on most GPUs): views meant for kernels must start there.
   */
  view(elementOffset: number, shape: readonly number[], label = this.label): Tensor<T> {
    const size = shape.reduce((a, b) => a * b, 1);
    if (elementOffset < 0 || elementOffset + size > this.size) {
      throw new Error(`view [${elementOffset}, ${elementOffset + size}) outside tensor ${this.label} of ${this.size} elements`);
    }
    if (this.dtype === 'f16' && elementOffset % 2 !== 0) throw new Error(`view of f16 tensor ${this.label} at odd element ${elementOffset}: views start on a 32-bit word`);
    if (isQuantDType(this.dtype)) {
      const block = BLOCK_LAYOUT[this.dtype].elements;
      if (elementOffset % block !== 0) throw new Error(`view of ${this.dtype} tensor ${this.label} at element ${elementOffset}: views start on a block of ${block}`);
      quantWords(this.dtype, size); // q8: whole blocks
    }
    return new Tensor(this.buffer, [...shape], this.dtype, label, this.offset + elementOffset);
  }
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * A tensor of `shape`, zero-filled or holding `data` (converted to the dtype's array type; nf4
 * and q8: the packed words of the whole tensor, from quantizeNf4 / quantizeQ8, whose rows for q8
 * are the shape's last dimension). Buffers hold at least one element, since WebGPU cannot bind an
 * empty buffer.
 */
export function createTensor<T extends DType>(
  ctx: GpuContext,
  shape: readonly number[],
  dtype: T,
  data?: ArrayLike<number>,
  label = '',
): Tensor<T> {
  const size = shape.reduce((a, b) => a * b, 1);
  const what = `tensor ${label || ''} [${shape.join(', ')}]`;
  if (dtype === 'q8' && size > 0 && (shape.at(-1) ?? 1) % BLOCK_LAYOUT.q8.elements !== 0) {
    throw new Error(`${what}: rows of ${shape.at(-1) ?? 1} elements are not a multiple of ${BLOCK_LAYOUT.q8.elements} long, so it cannot be q8 (keep such a weight as f16 or f32)`);
  }
  if (data && isQuantDType(dtype)) checkPacked(what, dtype, data, size);
  else if (data && data.length !== size) {
    throw new Error(`tensor ${label || ''}: ${data.length} values given for shape [${shape.join(', ')}] (${size} elements)`);
  }
  const bytes = storageBytes(dtype, size);
  if (bytes > ctx.limits.maxStorageBufferBindingSize) {
    throw new Error(
      `tensor ${label} [${shape.join(', ')}] needs ${bytes} bytes, more than this GPU's maxStorageBufferBindingSize (${ctx.limits.maxStorageBufferBindingSize})`,
    );
  }
  const buffer = ctx.device.createBuffer({ size: bytes, usage: STORAGE(), mappedAtCreation: !!data, label });
  if (data) {
    const words = encode(dtype, data);
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
    buffer.unmap();
  }
  return new Tensor(buffer, [...shape], dtype, label).countIn(gpuMemory(ctx), bytes);
}

/**
 * Overwrite a tensor's contents (or `data.length` elements from `elementOffset`) from the CPU.
 * An f16 tensor takes whole words: an even offset and an even length, or the tensor's end. An nf4
 * or q8 tensor is written whole, from its packed words.
 */
export function writeTensor(ctx: GpuContext, t: Tensor, data: ArrayLike<number>, elementOffset = 0): void {
  if (isQuantDType(t.dtype)) {
    if (elementOffset !== 0) throw new Error(`writeTensor: ${t.dtype} tensor ${t.label} is written whole, from its packed words (offset ${elementOffset})`);
    checkPacked(`writeTensor: ${t.dtype} tensor ${t.label}`, t.dtype, data, t.size);
    ctx.device.queue.writeBuffer(t.buffer, t.byteOffset, (data as Uint32Array).buffer, (data as Uint32Array).byteOffset, (data as Uint32Array).byteLength);
    return;
  }
  if (t.dtype === 'f16' && (elementOffset % 2 !== 0 || (data.length % 2 !== 0 && elementOffset + data.length !== t.size))) {
    throw new Error(`writeTensor: f16 tensor ${t.label} is written in whole 32-bit words (offset ${elementOffset}, ${data.length} values)`);
  }
  const arr = encode(t.dtype, data);
  const eb = elementBytes(t.dtype);
  ctx.device.queue.writeBuffer(t.buffer, (t.offset + elementOffset) * eb, arr.buffer, arr.byteOffset, arr.byteLength);
}

/**
 * The one readback path: copy `count` elements starting at `elementOffset` (default: the whole
 * tensor) into a mappable buffer and return them as the dtype's typed array. An nf4 or q8 tensor
 * is read whole, as its packed words (dequantizeNf4 / dequantizeQ8 give the values).
 */
export async function readTensor<T extends DType>(
  ctx: GpuContext,
  t: Tensor<T>,
  elementOffset = 0,
  count = t.size - elementOffset,
): Promise<TypedArrayOf<T>> {
  const { device } = ctx;
  if (t.dtype === 'f16' && elementOffset % 2 !== 0) throw new Error(`readTensor: f16 tensor ${t.label} is read from a 32-bit word (offset ${elementOffset})`);
  if (isQuantDType(t.dtype) && (elementOffset !== 0 || count !== t.size)) {
    throw new Error(`readTensor: ${t.dtype} tensor ${t.label} is read whole, as its packed words (asked for ${count} elements from ${elementOffset} of ${t.size})`);
  }
  const start = t.byteOffset + bytesBefore(t.dtype, elementOffset);
  const bytes = storageBytes(t.dtype, count);
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(t.buffer, start, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const raw = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  if (t.dtype === 'f16') return unpackF16(new Uint32Array(raw), count) as TypedArrayOf<T>;
  if (isQuantDType(t.dtype)) return new Uint32Array(raw) as TypedArrayOf<T>;
  return new ARRAY_OF[t.dtype as Exclude<DType, 'f16' | QuantDType>](raw) as TypedArrayOf<T>;
}
