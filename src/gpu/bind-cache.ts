// Bind groups (and the uniform buffers of their `params`) built once and reused.
//
// A launch binds one pipeline to a list of buffer ranges and, for kernels with a `params` struct,
// a small uniform buffer holding the packed parameter bytes. A training step of a fixed shape
// repeats exactly the same launches every step, so the cache keys each bind group by
// (pipeline, every bound buffer's id with its byte offset and size, the packed params bytes) and
// hands back the same GPUBindGroup and uniform buffer the next time. Only launches whose params
// change between steps (AdamW's step counter, generation's position) create new entries.
//
// GPUBuffers are identified by a number from a WeakMap, assigned the first time one is bound.
// An index from that number to the entries binding the buffer lets Tensor.destroy drop them all
// (forgetBuffer below), so no entry outlives a buffer it binds. The cache is an LRU of at most
// `capacity` entries (Map iteration order is insertion order; a hit moves its entry to the end),
// so generation, whose params change with every token, cannot grow it without limit.
//
// When may the uniform buffer of a dropped or evicted entry be destroyed? The WebGPU spec
// (https://gpuweb.github.io/gpuweb/, "Buffer Destruction" and GPUQueue.submit) says:
//  - GPUQueue.submit is a validation error when a bind group used by a command buffer binds a
//    buffer whose [[internal state]] is "destroyed": a buffer must not be destroyed while a
//    recording that binds it has not been submitted yet;
//  - after submission destroy() is safe: it only stops further use, and "allows the user agent to
//    reclaim the GPU memory associated with the GPUBuffer once all previously submitted operations
//    using it are complete" (the previous Recorder already relied on this, destroying its uniform
//    buffers right after queue.submit).
// So each entry counts the unsubmitted Recorders that have bound it (`users`, kept through a
// Recorder's BindHolds). Dropping an entry whose count is zero destroys its uniform buffer at
// once; otherwise the entry is marked retired and the last of those Recorders destroys the buffer
// right after its own queue.submit. Several Recorders may be open at once; one that is never
// submitted keeps its retired buffers until garbage collection frees them with the Recorder.
import type { Tensor } from './tensor.js';

/** Entries per device: a 30-layer model's training step binds about 2,000 distinct ones. */
export const DEFAULT_BIND_CACHE_CAPACITY = 8192;

interface BufferInfo {
  id: number;
  /** The cache that has indexed this buffer (a buffer belongs to one device), if any. */
  cache: BindCache | null;
}

const bufferInfo = new WeakMap<GPUBuffer, BufferInfo>();
let nextBufferId = 1;

function infoOf(buffer: GPUBuffer): BufferInfo {
  let info = bufferInfo.get(buffer);
  if (!info) bufferInfo.set(buffer, (info = { id: nextBufferId++, cache: null }));
  return info;
}

/** A bound byte range: its buffer's id, the range, and its part of a cache key. */
interface Binding {
  id: number;
  resource: GPUBufferBinding;
  key: string;
}

/**
 * Tensors are immutable views (buffer, offset, size), so each one's binding is worked out once:
 * recording a training step binds the same few hundred tensors thousands of times.
 */
const tensorBindings = new WeakMap<Tensor, Binding>();

function bindingOf(b: Tensor | GPUBuffer): Binding {
  if (!('buffer' in b)) return makeBinding({ buffer: b, offset: 0, size: b.size });
  let binding = tensorBindings.get(b);
  if (!binding) tensorBindings.set(b, (binding = makeBinding({ buffer: b.buffer, offset: b.byteOffset, size: b.byteLength })));
  return binding;
}

function makeBinding(resource: GPUBufferBinding): Binding {
  const id = infoOf(resource.buffer).id;
  return { id, resource, key: `;${id}@${resource.offset}+${resource.size}` };
}

export class BindEntry {
  /** Unsubmitted Recorders that have bound this entry. */
  users = 0;
  /** Dropped from the cache: its uniform buffer is destroyed once `users` is zero. */
  retired = false;

  constructor(
    readonly key: string,
    readonly bindGroup: GPUBindGroup,
    readonly uniform: GPUBuffer | null,
    readonly bufferIds: readonly number[],
  ) {}
}

function retire(e: BindEntry): void {
  e.retired = true;
  if (e.users === 0) e.uniform?.destroy();
}

/** The entries with a uniform buffer that one unsubmitted Recorder has bound. */
export class BindHolds {
  private held = new Set<BindEntry>();

  hold(e: BindEntry): void {
    if (!e.uniform || this.held.has(e)) return;
    this.held.add(e);
    e.users += 1;
  }

  /** Call right after the Recorder's command buffer was submitted. */
  release(): void {
    for (const e of this.held) {
      e.users -= 1;
      if (e.retired && e.users === 0) e.uniform!.destroy();
    }
    this.held.clear();
  }
}

export class BindCache {
  private entries = new Map<string, BindEntry>();
  /** Buffer id → the entries binding that buffer. */
  private byBuffer = new Map<number, Set<BindEntry>>();
  bindGroupsCreated = 0;
  uniformBuffersCreated = 0;

  constructor(
    readonly device: GPUDevice,
    private cap = DEFAULT_BIND_CACHE_CAPACITY,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get capacity(): number {
    return this.cap;
  }

  set capacity(n: number) {
    this.cap = Math.max(0, Math.floor(n));
    this.trim();
  }

  /**
   * The bind group of `layout` binding `buffers` in order (a Tensor's byte range, or a whole
   * GPUBuffer) and, when `params` is given, a uniform buffer holding those words at the next
   * binding. `holds` (the calling Recorder's) keeps the entry's uniform buffer alive until submit.
   */
  bind(
    pipelineId: number,
    layout: GPUBindGroupLayout,
    label: string,
    buffers: ReadonlyArray<Tensor | GPUBuffer>,
    params: Uint32Array | null,
    holds: BindHolds,
  ): GPUBindGroup {
    let key = String(pipelineId);
    for (const b of buffers) key += bindingOf(b).key;
    if (params) {
      key += '|';
      for (const word of params) key += `${word},`;
    }

    let e = this.entries.get(key);
    if (e) {
      this.entries.delete(key); // most recently used last
      this.entries.set(key, e);
      holds.hold(e);
      return e.bindGroup;
    }
    const bindings = buffers.map(bindingOf);
    const ids = bindings.map((b) => b.id);
    const resources = bindings.map((b) => b.resource);
    const groupEntries: GPUBindGroupEntry[] = resources.map((resource, binding) => ({ binding, resource }));
    let uniform: GPUBuffer | null = null;
    if (params) {
      uniform = this.device.createBuffer({ size: params.byteLength, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true, label: `${label}.params` });
      new Uint32Array(uniform.getMappedRange()).set(params);
      uniform.unmap();
      this.uniformBuffersCreated += 1;
      groupEntries.push({ binding: groupEntries.length, resource: { buffer: uniform } });
    }
    const bindGroup = this.device.createBindGroup({ layout, entries: groupEntries, label });
    this.bindGroupsCreated += 1;
    e = new BindEntry(key, bindGroup, uniform, ids);
    holds.hold(e); // before any eviction, so that an entry evicted at once is still kept to submit
    this.entries.set(key, e);
    for (const [i, id] of ids.entries()) {
      let set = this.byBuffer.get(id);
      if (!set) {
        this.byBuffer.set(id, (set = new Set()));
        infoOf(resources[i].buffer).cache = this;
      }
      set.add(e);
    }
    this.trim();
    return bindGroup;
  }

  /** Drops every entry that binds buffer `id` (the buffer is being destroyed). */
  forget(id: number): void {
    const set = this.byBuffer.get(id);
    if (!set) return;
    for (const e of [...set]) this.drop(e);
    this.byBuffer.delete(id);
  }

  private trim(): void {
    while (this.entries.size > this.cap) this.drop(this.entries.values().next().value!);
  }

  private drop(e: BindEntry): void {
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
    for (const id of e.bufferIds) {
      const set = this.byBuffer.get(id);
      set?.delete(e);
      if (set?.size === 0) this.byBuffer.delete(id);
    }
    retire(e);
  }
}

const caches = new WeakMap<GPUDevice, BindCache>();

/** The bind-group cache of `device`. */
export function bindCacheOf(device: GPUDevice): BindCache {
  let c = caches.get(device);
  if (!c) caches.set(device, (c = new BindCache(device)));
  return c;
}

/**
 * Drops the cached bind groups that bind `buffer`, destroying their uniform buffers (or leaving
 * that to the submit of the Recorders still holding them). Tensor.destroy calls this.
 */
export function forgetBuffer(buffer: GPUBuffer): void {
  const info = bufferInfo.get(buffer);
  info?.cache?.forget(info.id);
}
