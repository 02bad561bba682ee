// GPU memory high-water marks of tfjs's WebGPU backend.
//
// WebGPUBackend.memory() reports two current figures from its buffer manager: numBytesInGPU (the
// bytes of the GPU buffers in use now: live tensors, and uniform and staging buffers not yet
// released) and numBytesAllocatedInGPU (every GPU buffer the manager holds: those in use plus the
// freed ones it keeps in its pool for reuse, keyed by exact size and usage; it destroys none but
// the upload staging buffers). Both only ever change when a buffer is acquired or released, and
// a peak between two of our calls would be missed by sampling memory(), so the buffer manager's
// acquireBuffer is wrapped once per process to raise the high-water marks after each acquisition
// (a comparison per buffer; nothing else changes).
import type * as TF from '@tensorflow/tfjs';

interface BufferManagerLike {
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(...args: unknown[]): unknown;
}

export interface GpuPeaks {
  /** Most bytes of GPU buffers tfjs's buffer manager held at once (in use + pooled): its GPU footprint. */
  allocated: number;
  /** Most bytes of GPU buffers in use at once (live tensors, uniforms, staging). */
  used: number;
}

const tracked = new WeakMap<object, GpuPeaks>();

/**
 * The high-water marks of the backend's buffer manager, tracking from the first call on. Throws
 * if the backend is not tfjs-backend-webgpu 4.x's WebGPUBackend (no bufferManager to watch).
 */
export function gpuPeaks(backend: TF.KernelBackend): GpuPeaks {
  const bm = (backend as unknown as { bufferManager?: BufferManagerLike }).bufferManager;
  if (!bm || typeof bm.acquireBuffer !== 'function' || typeof bm.numBytesAllocated !== 'number') {
    throw new Error('tfjs peer: the active tfjs backend has no WebGPU buffer manager to measure (is it tfjs-backend-webgpu 4.x?)');
  }
  let peaks = tracked.get(bm);
  if (!peaks) {
    const p: GpuPeaks = { allocated: bm.numBytesAllocated, used: bm.numBytesUsed };
    const acquire = bm.acquireBuffer.bind(bm);
    bm.acquireBuffer = (...args: unknown[]) => {
      const buffer = acquire(...args);
      if (bm.numBytesAllocated > p.allocated) p.allocated = bm.numBytesAllocated;
      if (bm.numBytesUsed > p.used) p.used = bm.numBytesUsed;
      return buffer;
    };
    tracked.set(bm, p);
    peaks = p;
  }
  return peaks;
}

/** Restart the high-water marks from the backend's current figures. */
export function resetGpuPeaks(backend: TF.KernelBackend): void {
  const peaks = gpuPeaks(backend);
  const bm = (backend as unknown as { bufferManager: BufferManagerLike }).bufferManager;
  peaks.allocated = bm.numBytesAllocated;
  peaks.used = bm.numBytesUsed;
}
