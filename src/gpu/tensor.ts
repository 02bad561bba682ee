// Tensors: a GPU storage buffer with a shape and an element type, row-major, 4 bytes an element.
import type { GpuContext } from './device.js';

export type DType = 'f32' | 'i32' | 'u32';
export type TypedArrayOf<T extends DType> = T extends 'f32' ? Float32Array : T extends 'i32' ? Int32Array : Uint32Array;

const ARRAY_OF: Record<DType, Float32ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor> = {
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
};

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

  destroy(): void {
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
  const bytes = Math.max(4, size * 4);
  if (bytes > ctx.limits.maxStorageBufferBindingSize) {
    throw new Error(
      `tensor ${label} [${shape.join(', ')}] needs ${bytes} bytes, more than this GPU's maxStorageBufferBindingSize (${ctx.limits.maxStorageBufferBindingSize})`,
    );
  }
  const buffer = ctx.device.createBuffer({ size: bytes, usage: STORAGE(), mappedAtCreation: !!data, label });
  if (data) {
    const view = new ARRAY_OF[dtype](buffer.getMappedRange());
    view.set(data instanceof ARRAY_OF[dtype] ? (data as ArrayLike<number>) : Array.from(data));
    buffer.unmap();
  }
  return new Tensor(buffer, [...shape], dtype, label).countIn(gpuMemory(ctx), bytes);
}

/** Overwrite a tensor's contents (or its first `data.length` elements) from the CPU. */
export function writeTensor(ctx: GpuContext, t: Tensor, data: ArrayLike<number>, elementOffset = 0): void {
  const arr = data instanceof ARRAY_OF[t.dtype] ? (data as Float32Array) : new ARRAY_OF[t.dtype](Array.from(data));
  ctx.device.queue.writeBuffer(t.buffer, (t.offset + elementOffset) * 4, arr.buffer, arr.byteOffset, arr.byteLength);
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
  const bytes = Math.max(4, count * 4);
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(t.buffer, (t.offset + elementOffset) * 4, staging, 0, count * 4);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new ARRAY_OF[t.dtype](staging.getMappedRange().slice(0, count * 4));
  staging.unmap();
  staging.destroy();
  return out as TypedArrayOf<T>;
}
