// Pass 2 of the split matmuls (weight-grad-split.ts, and matmulBackward's split over N in
// backward.ts): out = (accumulate ? out : 0) + scale · Σ_s partials[s], the S partial sums
// added in split order (deterministic, no atomics); see shaders/matmul_split_reduce.wgsl.
import code from '../../../../shaders/matmul_split_reduce.wgsl?raw';
import { f32, u32, type KernelSpec, type Recorder } from '../../kernel.js';
import { grid1dKernel } from '../grid-1d.js';
import type { Tensor } from '../../tensor.js';

export interface SplitReduceLaunch {
  count: number; // elements of out
  splits: number; // S: partials holds [S, count]
  scale: number;
  accumulate: boolean;
}

/** Bindings: out, partials. One invocation per element. */
export const splitReduceKernel: KernelSpec<SplitReduceLaunch> = grid1dKernel('matmul_split_reduce.wgsl', {
  name: 'matmul_split_reduce',
  code,
  bindings: ['read_write', 'read'],
  constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0 }),
  params: (d) => [u32(d.count), u32(d.splits), f32(d.scale)],
  workgroupSize: 256,
  threads: (d) => d.count,
});

/** out: [count] (+)= scale · Σ_s partials[s·count .. (s+1)·count). The callers check the sizes. */
export function reducePartials(rec: Recorder, out: Tensor, partials: Tensor, d: SplitReduceLaunch): void {
  if (d.count > 0) rec.run(splitReduceKernel, d, [out, partials]);
}
