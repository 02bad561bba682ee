// Per-kernel GPU time from timestamp queries.
//
// While profiling is on for a device (enableProfiling), every Recorder created afterwards puts each
// dispatch in a compute pass of its own whose timestampWrites record the GPU clock at the pass's
// beginning and end. At submit the recorder resolves the queries it used into a buffer, copies them
// into a mappable one and hands that to the device's profiler, which adds (end − begin) to the
// kernel's total once the copy has been mapped. takeProfile waits for everything submitted so far.
//
// Query sets hold 4096 queries (2048 dispatches) each. A recorder takes sets from a pool as it
// needs them and gives them back at submit: the queue runs submissions in order, so a later
// submission's writes cannot overtake the resolve of an earlier one.
//
// Profiling changes how the work is split into passes, so it costs time of its own (a pass per
// dispatch, the queries and their read-back): profile one extra step, and time steps without it.
// With profiling off, Recorder records exactly as it does without this file.
import type { GpuContext } from './device.js';

export interface KernelTime {
  /** Dispatches of the kernel. */
  calls: number;
  /** Their summed GPU time in milliseconds. */
  ms: number;
}

/** GPU time by kernel name (KernelSpec.name). */
export type KernelTimes = Map<string, KernelTime>;

export interface Profile {
  times: KernelTimes;
  /** Why `times` is empty when nothing could be recorded (no timestamp-query, profiling off); else null. */
  reason: string | null;
}

export const QUERIES_PER_SET = 4096;
const BYTES_PER_SET = QUERIES_PER_SET * 8; // u64 timestamps; a multiple of the 256-byte resolve alignment

class Profiler {
  enabled = true;
  times: KernelTimes = new Map();
  private pool: GPUQuerySet[] = [];
  private pending = new Set<Promise<void>>();

  constructor(readonly device: GPUDevice) {}

  checkout(): GPUQuerySet {
    return this.pool.pop() ?? this.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET, label: 'profile' });
  }

  giveBack(sets: GPUQuerySet[]): void {
    if (this.enabled) this.pool.push(...sets);
    else for (const s of sets) s.destroy();
  }

  /** Destroys the pooled query sets (those held by unsubmitted recorders are destroyed as they come back). */
  drainPool(): void {
    for (const s of this.pool) s.destroy();
    this.pool = [];
  }

  /** Maps `readback` (the resolved timestamps of one submit) and adds its time spans to the kernels in `names`, in dispatch order. */
  collect(readback: GPUBuffer, names: string[]): void {
    const done = readback
      .mapAsync(GPUMapMode.READ)
      .then(() => {
        const stamps = new BigUint64Array(readback.getMappedRange());
        names.forEach((name, i) => {
          const at = Math.floor(i / (QUERIES_PER_SET / 2)) * QUERIES_PER_SET + 2 * (i % (QUERIES_PER_SET / 2));
          const begin = stamps[at];
          const end = stamps[at + 1];
          const ns = end > begin ? Number(end - begin) : 0;
          const t = this.times.get(name) ?? { calls: 0, ms: 0 };
          t.calls += 1;
          t.ms += ns / 1e6;
          this.times.set(name, t);
        });
        readback.unmap();
      })
      .finally(() => {
        readback.destroy();
        this.pending.delete(done);
      });
    this.pending.add(done);
  }

  async settle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}

const profilers = new WeakMap<GPUDevice, Profiler>();

/**
 * Start timing every dispatch of Recorders created from now on (until disableProfiling). Returns
 * null, or the reason nothing will be recorded (the device lacks timestamp-query).
 */
export function enableProfiling(ctx: GpuContext): string | null {
  if (!ctx.features.timestampQuery) return NO_TIMESTAMPS;
  const p = profilers.get(ctx.device);
  if (p) p.enabled = true;
  else profilers.set(ctx.device, new Profiler(ctx.device));
  return null;
}

/** Stop timing new Recorders; what was already submitted still arrives in the next takeProfile. */
export function disableProfiling(ctx: GpuContext): void {
  const p = profilers.get(ctx.device);
  if (!p) return;
  p.enabled = false;
  p.drainPool();
}

const NO_TIMESTAMPS = "this device has no 'timestamp-query' feature, so kernel times cannot be measured";
const PROFILING_OFF = 'profiling is off on this device (enableProfiling turns it on)';

/**
 * The kernel times accumulated since the last takeProfile (which resets them), once every
 * submitted profiled recorder's timestamps have been read back.
 */
export async function takeProfile(ctx: GpuContext): Promise<Profile> {
  if (!ctx.features.timestampQuery) return { times: new Map(), reason: NO_TIMESTAMPS };
  const p = profilers.get(ctx.device);
  if (!p) return { times: new Map(), reason: PROFILING_OFF };
  await p.settle();
  const times = p.times;
  p.times = new Map();
  if (p.enabled) return { times, reason: null };
  profilers.delete(ctx.device);
  return { times, reason: times.size ? null : PROFILING_OFF };
}

/**
 * The timestamp writes of one Recorder, or null when profiling is off for its device: Recorder
 * asks once, when it is created, and takes its unprofiled path on null.
 */
export function passTimer(ctx: GpuContext): PassTimer | null {
  const p = profilers.get(ctx.device);
  return p?.enabled ? new PassTimer(p) : null;
}

export class PassTimer {
  private sets: GPUQuerySet[] = [];
  private names: string[] = [];

  constructor(private readonly profiler: Profiler) {}

  /** A compute pass that writes the GPU clock at its beginning and end, for one dispatch of `name`. */
  beginPass(encoder: GPUCommandEncoder, name: string): GPUComputePassEncoder {
    const local = (2 * this.names.length) % QUERIES_PER_SET;
    if (local === 0) this.sets.push(this.profiler.checkout());
    this.names.push(name);
    return encoder.beginComputePass({
      label: name,
      timestampWrites: { querySet: this.sets[this.sets.length - 1], beginningOfPassWriteIndex: local, endOfPassWriteIndex: local + 1 },
    });
  }

  /**
   * Before `encoder.finish()`: resolve the used queries and copy them to a mappable buffer.
   * Returns what to call once the command buffer has been submitted.
   */
  resolve(encoder: GPUCommandEncoder): () => void {
    if (this.names.length === 0) return () => {};
    const device = this.profiler.device;
    const bytes = this.sets.length * BYTES_PER_SET;
    const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profile.resolve' });
    const readback = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profile.readback' });
    const queries = 2 * this.names.length;
    this.sets.forEach((set, k) => {
      const used = Math.min(QUERIES_PER_SET, queries - k * QUERIES_PER_SET);
      encoder.resolveQuerySet(set, 0, used, resolved, k * BYTES_PER_SET);
    });
    encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
    const { sets, names } = this;
    this.sets = [];
    this.names = [];
    return () => {
      resolved.destroy();
      this.profiler.giveBack(sets);
      this.profiler.collect(readback, names);
    };
  }
}
