// Kernel descriptors, the pipeline cache and the recorder that turns launches into dispatches.
//
// A kernel is one WGSL file plus a KernelSpec that says how to call it: its storage bindings in
// order (binding 0, 1, ...), an optional uniform `params` struct that always takes the next
// binding, `override` constants (which select a pipeline variant and are part of the cache key),
// and the dispatch size as a function of the launch dimensions.
import type { GpuContext } from './device.js';
import { passTimer, type PassTimer } from './profile.js';
import type { Tensor } from './tensor.js';

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
  /** The uniform `params` struct, bound at binding `bindings.length`; omitted when the kernel has none. */
  params?: (dims: D) => Param[];
  /** Workgroup counts (x, y, z). */
  dispatch: (dims: D) => [number, number?, number?];
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
}

const pipelineCaches = new WeakMap<GPUDevice, Map<string, CachedPipeline>>();

function pipelineFor<D>(ctx: GpuContext, spec: KernelSpec<D>, constants: Record<string, number>): CachedPipeline {
  let cache = pipelineCaches.get(ctx.device);
  if (!cache) pipelineCaches.set(ctx.device, (cache = new Map()));
  const key = `${spec.name}:${spec.entryPoint ?? 'main'}:${JSON.stringify(constants)}`;
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
    cache.set(key, (hit = { pipeline, layout }));
  }
  return hit;
}

function packParams(params: Param[]): ArrayBuffer {
  const bytes = Math.max(16, Math.ceil((params.length * 4) / 16) * 16);
  const buf = new ArrayBuffer(bytes);
  const view = new DataView(buf);
  params.forEach((p, i) => {
    if (p.type === 'f32') view.setFloat32(i * 4, p.value, true);
    else if (p.type === 'i32') view.setInt32(i * 4, p.value, true);
    else view.setUint32(i * 4, p.value, true);
  });
  return buf;
}

/**
 * Records kernel launches into one compute pass of one command encoder; `submit()` sends them to
 * the queue. Dispatches in a pass run in order, each seeing the writes of the ones before.
 * When profiling was on for the device as the recorder was created (./profile.ts), each dispatch
 * gets a timed pass of its own instead.
 */
export class Recorder {
  private encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  private uniforms: GPUBuffer[] = [];
  private readonly timer: PassTimer | null;

  constructor(readonly ctx: GpuContext, label = 'webgpu-lora') {
    this.encoder = ctx.device.createCommandEncoder({ label });
    this.timer = passTimer(ctx);
  }

  run<D>(spec: KernelSpec<D>, dims: D, buffers: Array<Tensor | GPUBuffer>): void {
    if (buffers.length !== spec.bindings.length) {
      throw new Error(`${spec.name}: ${buffers.length} buffers given, ${spec.bindings.length} bindings declared`);
    }
    const { pipeline, layout } = pipelineFor(this.ctx, spec, spec.constants?.(dims) ?? {});
    const entries: GPUBindGroupEntry[] = buffers.map((b, binding) => ({
      binding,
      resource: 'buffer' in b ? { buffer: b.buffer, offset: b.byteOffset, size: b.byteLength } : { buffer: b },
    }));
    if (spec.params) {
      const data = packParams(spec.params(dims));
      const ub = this.ctx.device.createBuffer({
        size: data.byteLength,
        usage: GPUBufferUsage.UNIFORM,
        mappedAtCreation: true,
      });
      new Uint8Array(ub.getMappedRange()).set(new Uint8Array(data));
      ub.unmap();
      this.uniforms.push(ub);
      entries.push({ binding: entries.length, resource: { buffer: ub } });
    }
    const bindGroup = this.ctx.device.createBindGroup({ layout, entries, label: spec.name });
    const [x, y = 1, z = 1] = spec.dispatch(dims);
    const pass = this.timer ? this.timer.beginPass(this.encoder, spec.name) : (this.pass ??= this.encoder.beginComputePass());
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.timer) pass.end();
  }

  /** Copy `count` 4-byte elements between tensors (outside the compute pass). */
  copy(src: Tensor, srcElement: number, dst: Tensor, dstElement: number, count: number): void {
    if (src.dtype === 'f16' || dst.dtype === 'f16') throw new Error(`copy: f16 tensors (${src.label}, ${dst.label}) are not copied element-wise`);
    this.pass?.end();
    this.pass = null;
    this.encoder.copyBufferToBuffer(src.buffer, (src.offset + srcElement) * 4, dst.buffer, (dst.offset + dstElement) * 4, count * 4);
  }

  /** Zero `t` (outside the compute pass). */
  clear(t: Tensor): void {
    if (t.size === 0) return;
    this.pass?.end();
    this.pass = null;
    this.encoder.clearBuffer(t.buffer, t.byteOffset, t.byteLength);
  }

  submit(): void {
    this.pass?.end();
    this.pass = null;
    const submitted = this.timer?.resolve(this.encoder);
    this.ctx.device.queue.submit([this.encoder.finish()]);
    submitted?.();
    for (const ub of this.uniforms) ub.destroy();
    this.uniforms = [];
  }
}
