// One-dimensional kernels: one invocation per element (or per block of elements), the entry point
// written once in shaders/lib/grid_1d.wgsl and composed with the kernel's own .wgsl file, which
// declares `fn invocations() -> u32` and `fn element(i: u32)`. The workgroup size is stated here,
// in the descriptor, and nowhere else: the pipeline gets it as the WG override and the dispatch
// covers `threads(dims)` invocations with it (grid1d).
import gridCode from '../../../shaders/lib/grid_1d.wgsl?raw';
import { composedKernel, grid1d, type KernelSpec } from '../kernel.js';
import type { WgslPart } from '../wgsl.js';

export const GRID_1D_PART: WgslPart = { name: 'lib/grid_1d.wgsl', code: gridCode };

/** What a one-dimensional kernel's descriptor says beyond any kernel's: its threads and workgroup size. */
export type Grid1dSpec<D> = Omit<KernelSpec<D>, 'dispatch' | 'workgroupSize'> & {
  /** Invocations per workgroup (the WG override). */
  workgroupSize: number;
  /** Invocations the launch needs: the kernel's invocations() for these dimensions. */
  threads: (dims: D) => number;
};

/** The descriptor of a one-dimensional kernel: its code (from `file`) composed with the entry point and `parts`. */
export function grid1dKernel<D>(file: string, { threads, ...spec }: Grid1dSpec<D>, ...parts: WgslPart[]): KernelSpec<D> {
  return composedKernel(file, { ...spec, dispatch: (d) => grid1d(threads(d), spec.workgroupSize) }, GRID_1D_PART, ...parts);
}
