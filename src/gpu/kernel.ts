// Kernel descriptors, the pipeline cache and the recorder that turns launches into dispatches.
//
// A kernel is one WGSL module (its .wgsl file, with the library parts it composes in: ./wgsl.ts)
// plus a KernelSpec that says how to call it: its storage bindings in order (binding 0, 1, ...),
// an optional uniform `params` struct that always takes the next binding, `override` constants
// (which select a pipeline variant and are part of the cache key), the workgroup size where the
// WGSL takes it as an override, and the dispatch size as a function of the launch dimensions.
//
// Pipelines are cached per device by (kernel, entry point, constants), bind groups and their
// uniform buffers by what they bind (./bind-cache.ts): a step recorded again with the same shapes
// creates neither. recordStats counts what the Recorders of a device did, for the benchmark.
import { bindCacheOf, BindHolds, type BindCache } from './bind-cache.js';
import type { GpuContext } from './device.js';
import { passTimer, type PassTimer } from './profile.js';
import { isQuantDType } from './quant/layout.js';
import type { Tensor } from './tensor.js';
import { composeWgsl, type WgslPart } from './wgsl.js';

export type Access = 'read' | 'read_write';

/** One 4-byte field of a kernel's uniform `params` struct, in declaration order. */
export type Param = { type: 'u32' | 'i32' | 'f32'; value: number };
export const u32 = (value: number): Param => ({ type: 'u32', value });
export const i32 = (value: number): Param => ({ type: 'i32', value });
export const f32 = (value: number): Param => ({ type: 'f32', value });

export interface KernelSpec<D> {
  /** Same as the WGSL file's name, e.g. 'rmsnorm_forward'. */
  name: string;
  /** WGSL source, imported with Vite's `?raw`. */
  code: string;
  entryPoint?: string;
  /** Storage bindings 0..n-1 in order. */
  bindings: Access[];
  /** Values of the WGSL `override` constants: each distinct set is its own pipeline. */
  constants?: (dims: D) => Record<string, number>;
  /**
   * Invocations per workgroup, for kernels whose WGSL takes it as the `WG` override (the
   * one-dimensional kernels, ./kernels/grid-1d.ts); the pipeline gets it with the constants.
   */
  workgroupSize?: number;
  /** The uniform `params` struct, bound at binding `bindings.length`; omitted when the kernel has none. */
  params?: (dims: D) => Param[];
  /** Workgroup counts (x, y, z). */
  dispatch: (dims: D) => [number, number?, number?];
}

/** `spec` with its code (the WGSL file `file`) composed with the library `parts` (./wgsl.ts). */
export function composedKernel<D>(file: string, spec: KernelSpec<D>, ...parts: WgslPart[]): KernelSpec<D> {
  return { ...spec, code: composeWgsl({ name: file, code: spec.code }, ...parts) };
}

/** Workgroups along x and y for `threads` one-dimensional invocations, within the 65535-per-dimension limit. */
export function grid1d(threads: number, workgroupSize: number): [number, number] {
  const groups = Math.max(1, Math.ceil(threads / workgroupSize));
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Distinct per pipeline: part of the bind-group cache's key. */
  id: number;
}

/** What the Recorders of one device have done since it was first used (recordStats). */
export interface RecordStats {
  /** Recorder.submit calls (readTensor's copies are not counted). */
  submits: number;
  /** Kernel launches (Recorder.run). */
  dispatches: number;
  bindGroupsCreated: number;
  uniformBuffersCreated: number;
  pipelinesCreated: number;
  /** CPU milliseconds spent inside Recorder: creating it, run, copy, clear and submit (queue.submit included). */
  recordMs: number;
}

type OwnCounts = Pick<RecordStats, 'submits' | 'dispatches' | 'pipelinesCreated' | 'recordMs'>;
const counters = new WeakMap<GPUDevice, OwnCounts>();

function countsOf(device: GPUDevice): OwnCounts {
  let c = counters.get(device);
  if (!c) counters.set(device, (c = { submits: 0, dispatches: 0, pipelinesCreated: 0, recordMs: 0 }));
  return c;
}

/** A snapshot of ctx's device's counters; subtract two with diffRecordStats. */
export function recordStats(ctx: GpuContext): RecordStats {
  const cache = bindCacheOf(ctx.device);
  return { ...countsOf(ctx.device), bindGroupsCreated: cache.bindGroupsCreated, uniformBuffersCreated: cache.uniformBuffersCreated };
}

/** What happened between two snapshots: `after − before`, field by field. */
export function diffRecordStats(after: RecordStats, before: RecordStats): RecordStats {
  const d = { ...after };
  for (const k of Object.keys(d) as Array<keyof RecordStats>) d[k] -= before[k];
  return d;
}

let nextPipelineId = 1;

/** Per device, per kernel spec: the pipelines by their override constants. */
const pipelineCaches = new WeakMap<GPUDevice, Map<KernelSpec<never>, Map<string, CachedPipeline>>>();

function pipelineFor<D>(ctx: GpuContext, spec: KernelSpec<D>, constants: Record<string, number>): CachedPipeline {
  let bySpec = pipelineCaches.get(ctx.device);
  if (!bySpec) pipelineCaches.set(ctx.device, (bySpec = new Map()));
  let cache = bySpec.get(spec as KernelSpec<never>);
  if (!cache) bySpec.set(spec as KernelSpec<never>, (cache = new Map()));
  let key = '';
  for (const name in constants) key += `${name}=${constants[name]};`;
  let hit = cache.get(key);
  if (!hit) {
    const entries: GPUBindGroupLayoutEntry[] = spec.bindings.map((access, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (spec.params) {
      entries.push({ binding: entries.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    }
    const layout = ctx.device.createBindGroupLayout({ entries, label: spec.name });
    const module = ctx.device.createShaderModule({ code: spec.code, label: spec.name });
    const pipeline = ctx.device.createComputePipeline({
      label: spec.name,
      layout: ctx.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: spec.entryPoint ?? 'main', constants },
    });
    cache.set(key, (hit = { pipeline, layout, id: nextPipelineId++ }));
    countsOf(ctx.device).pipelinesCreated += 1;
  }
  return hit;
}

/** The most 4-byte fields a `params` struct may have. */
const MAX_PARAM_WORDS = 64;
/** One scratch for packing `params`, read back before the next launch packs its own. */
const paramWords = new Uint32Array(MAX_PARAM_WORDS);
const paramF32 = new Float32Array(paramWords.buffer);
const paramI32 = new Int32Array(paramWords.buffer);

/**
 * The `params` struct's words: 4 bytes per field (WebGPU is little-endian, as typed arrays are on
 * every platform it runs on), padded to a multiple of 16 bytes (at least 16). A view of a shared
 * scratch: valid until the next call.
 */
function packParams(name: string, params: Param[]): Uint32Array {
  const words = Math.max(4, Math.ceil(params.length / 4) * 4);
  if (words > MAX_PARAM_WORDS) throw new Error(`${name}: ${params.length} params, more than ${MAX_PARAM_WORDS}`);
  paramWords.fill(0, 0, words);
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p.type === 'f32') paramF32[i] = p.value;
    else if (p.type === 'i32') paramI32[i] = p.value;
    else paramWords[i] = p.value;
  }
  return paramWords.subarray(0, words);
}

/**
 * Dispatches per command buffer: a recorder hands its work to the queue every this many, so that
 * the GPU starts on the first part of a long recording (a training step of a 30-layer model is
 * about 2,000 dispatches) while the CPU records the rest. Queue order keeps the semantics.
 */
export const DISPATCHES_PER_COMMAND_BUFFER = 512;

/**
 * Records kernel launches into one compute pass of a command encoder; `submit()` sends them to
 * the queue. Dispatches in a pass run in order, each seeing the writes of the ones before. Long
 * recordings go to the queue in pieces of DISPATCHES_PER_COMMAND_BUFFER dispatches (the queue runs
 * them in order, so this changes nothing but when the GPU starts).
 * When profiling was on for the device as the recorder was created (./profile.ts), each dispatch
 * gets a timed pass of its own instead, and the recording is submitted whole.
 */
export class Recorder {
  private encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  /** The cached bind groups' uniform buffers this recording uses: kept until it is submitted. */
  private readonly holds = new BindHolds();
  private readonly cache: BindCache;
  private readonly timer: PassTimer | null;
  private readonly counts: OwnCounts;
  private dispatchesInEncoder = 0;

  constructor(readonly ctx: GpuContext, private readonly label = 'webgpu-lora') {
    const start = performance.now();
    this.counts = countsOf(ctx.device);
    this.cache = bindCacheOf(ctx.device);
    this.encoder = ctx.device.createCommandEncoder({ label });
    this.timer = passTimer(ctx);
    this.counts.recordMs += performance.now() - start;
  }

  run<D>(spec: KernelSpec<D>, dims: D, buffers: Array<Tensor | GPUBuffer>): void {
    const start = performance.now();
    if (buffers.length !== spec.bindings.length) {
      throw new Error(`${spec.name}: ${buffers.length} buffers given, ${spec.bindings.length} bindings declared`);
    }
    const own = spec.constants?.(dims) ?? {};
    const constants = spec.workgroupSize === undefined ? own : { ...own, WG: spec.workgroupSize };
    const { pipeline, layout, id } = pipelineFor(this.ctx, spec, constants);
    const params = spec.params ? packParams(spec.name, spec.params(dims)) : null;
    const bindGroup = this.cache.bind(id, layout, spec.name, buffers, params, this.holds);
    const [x, y = 1, z = 1] = spec.dispatch(dims);
    const pass = this.timer ? this.timer.beginPass(this.encoder, spec.name) : (this.pass ??= this.encoder.beginComputePass());
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.timer) pass.end();
    this.counts.dispatches += 1;
    if (++this.dispatchesInEncoder >= DISPATCHES_PER_COMMAND_BUFFER && !this.timer) this.flush();
    this.counts.recordMs += performance.now() - start;
  }

  /** Submits what is recorded so far and goes on in a new encoder (the bind holds stay until submit()). */
  private flush(): void {
    this.pass?.end();
    this.pass = null;
    this.ctx.device.queue.submit([this.encoder.finish()]);
    this.counts.submits += 1;
    this.encoder = this.ctx.device.createCommandEncoder({ label: this.label });
    this.dispatchesInEncoder = 0;
  }

  /** Copy `count` 4-byte elements between tensors (outside the compute pass). */
  copy(src: Tensor, srcElement: number, dst: Tensor, dstElement: number, count: number): void {
    for (const t of [src, dst]) {
      if (t.dtype === 'f16' || isQuantDType(t.dtype)) throw new Error(`copy: ${t.dtype} tensors (${t.label}) are not copied element-wise`);
    }
    const start = performance.now();
    this.pass?.end();
    this.pass = null;
    this.encoder.copyBufferToBuffer(src.buffer, (src.offset + srcElement) * 4, dst.buffer, (dst.offset + dstElement) * 4, count * 4);
    this.counts.recordMs += performance.now() - start;
  }

  /** Zero `t` (outside the compute pass). */
  clear(t: Tensor): void {
    if (t.size === 0) return;
    const start = performance.now();
    this.pass?.end();
    this.pass = null;
    this.encoder.clearBuffer(t.buffer, t.byteOffset, t.byteLength);
    this.counts.recordMs += performance.now() - start;
  }

  submit(): void {
    const start = performance.now();
    this.pass?.end();
    this.pass = null;
    const submitted = this.timer?.resolve(this.encoder);
    this.ctx.device.queue.submit([this.encoder.finish()]);
    submitted?.();
    this.holds.release(); // only now may retired uniform buffers it bound be destroyed (./bind-cache.ts)
    this.counts.submits += 1;
    this.counts.recordMs += performance.now() - start;
  }
}
