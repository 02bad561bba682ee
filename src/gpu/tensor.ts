// Tensors: a GPU storage buffer with a shape and an element type, row-major. f32, i32 and u32
// take 4 bytes an element; f16 takes 2, packed two to a 32-bit word (element 2i in the low half,
// as WGSL's unpack2x16float reads them; kernels bind such a tensor as array<u32> or
// array<vec2<u32>>), so frozen weights can be stored at half the memory without the shader-f16
// feature. On the CPU an f16 tensor reads and writes as a Float32Array.
import { forgetBuffer } from './bind-cache.js';
import type { GpuContext } from './device.js';
import { packF16, unpackF16 } from './f16.js';

export type DType = 'f32' | 'i32' | 'u32' | 'f16';
export type TypedArrayOf<T extends DType> = T extends 'f32' | 'f16' ? Float32Array : T extends 'i32' ? Int32Array : Uint32Array;

const ARRAY_OF: Record<Exclude<DType, 'f16'>, Float32ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor> = {
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
};

/** Bytes of one element. */
export const elementBytes = (dtype: DType): number => (dtype === 'f16' ? 2 : 4);

/** Bytes of n elements as stored: whole 32-bit words, at least one (WebGPU cannot bind an empty buffer). */
export const storageBytes = (dtype: DType, n: number): number => Math.max(4, Math.ceil((n * elementBytes(dtype)) / 4) * 4);

/** The words a buffer of `dtype` holds for these values (f16: packed halves). */
function encode(dtype: DType, data: ArrayLike<number>): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'f16') return packF16(data);
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
    return this.offset * elementBytes(this.dtype);
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
    return new Tensor(this.buffer, [...shape], this.dtype, label, this.offset + elementOffset);
  }
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * A tensor of `shape`, zero-filled or holding `data` (converted to the dtype's array type).
 * Buffers hold at least one element, since WebGPU cannot bind an empty buffer.
 */
export function createTensor<T extends DType>(
  ctx: GpuContext,
  shape: readonly number[],
  dtype: T,
  data?: ArrayLike<number>,
  label = '',
): Tensor<T> {
  const size = shape.reduce((a, b) => a * b, 1);
  if (data && data.length !== size) {
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
 * An f16 tensor takes whole words: an even offset and an even length, or the tensor's end.
 */
export function writeTensor(ctx: GpuContext, t: Tensor, data: ArrayLike<number>, elementOffset = 0): void {
  if (t.dtype === 'f16' && (elementOffset % 2 !== 0 || (data.length % 2 !== 0 && elementOffset + data.length !== t.size))) {
    throw new Error(`writeTensor: f16 tensor ${t.label} is written in whole 32-bit words (offset ${elementOffset}, ${data.length} values)`);
  }
  const arr = encode(t.dtype, data);
  const eb = elementBytes(t.dtype);
  ctx.device.queue.writeBuffer(t.buffer, (t.offset + elementOffset) * eb, arr.buffer, arr.byteOffset, arr.byteLength);
}

/**
 * The one readback path: copy `count` elements starting at `elementOffset` (default: the whole
 * tensor) into a mappable buffer and return them as the dtype's typed array.
 */
export async function readTensor<T extends DType>(
  ctx: GpuContext,
  t: Tensor<T>,
  elementOffset = 0,
  count = t.size - elementOffset,
): Promise<TypedArrayOf<T>> {
  const { device } = ctx;
  if (t.dtype === 'f16' && elementOffset % 2 !== 0) throw new Error(`readTensor: f16 tensor ${t.label} is read from a 32-bit word (offset ${elementOffset})`);
  const start = (t.offset + elementOffset) * elementBytes(t.dtype);
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
  return new ARRAY_OF[t.dtype as Exclude<DType, 'f16'>](raw) as TypedArrayOf<T>;
}
