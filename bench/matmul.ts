// `--matmul SIZES`: the speed of one matmul kernel alone, fp32 activations, W [N, K] in the
// nn.Linear layout as stored, no bias, at each size M x N x K (a bare S means S x S x S):
//  - forward, out[M, N] = x[M, K] · Wᵀ: matmul_tile128_forward (f32 and f16 weights),
//    matmul_tile64_forward and, on SwiftShader, matmul_reg4x4_forward;
//  - backward, dinp[M, K] = dout[M, N] · W: matmul_tile128_backward, matmul_tile64_backward and,
//    on SwiftShader, matmul_reg4x4_backward.
// The training shapes (e.g. 2048x576x576, 2048x1536x576 for SmolLM2-135M at 8 x 256) show which
// kernel suits which product, whatever the launchers pick today.
//
// Each kernel: one warm-up submission (it compiles the pipeline), then `steps` timed submissions,
// each holding R launches recorded into one command buffer and timed by the wall clock from
// queue.submit to onSubmittedWorkDone; `ms` is the median over the submissions divided by R, and
// tflops = 2·M·N·K / ms. Where the device has timestamp-query, one more submission of R launches
// runs with each launch in a timed pass of its own (src/gpu/profile.ts) and gives `gpu_ms`, the mean
// GPU time of one launch. Then 16 entries of the output (the four corners and 12 seeded ones) are
// compared with a CPU dot product in f64: a kernel whose output is wrong reports no speed
// (`checked` false, `error` says where).
import { integerOption, UsageError } from '../src/cli/common.js';
import type { GpuContext } from '../src/gpu/device.js';
import { roundToF16 } from '../src/gpu/f16.js';
import { Recorder } from '../src/gpu/kernel.js';
import { matmulReg4x4BackwardKernel, matmulTile64BackwardKernel, reg4x4Dout4, type MatmulBackwardLaunch } from '../src/gpu/kernels/matmul/backward.js';
import { matmulReg4x4ForwardKernel, matmulTile64ForwardKernel } from '../src/gpu/kernels/matmul/forward.js';
import { matmulTile128BackwardKernel, matmulTile128ForwardKernel } from '../src/gpu/kernels/matmul/tile128.js';
import type { WeightKernel } from '../src/gpu/kernels/weight-format.js';
import { disableProfiling, enableProfiling, takeProfile } from '../src/gpu/profile.js';
import { createTensor, readTensor, type Tensor } from '../src/gpu/tensor.js';
import { mulberry32 } from '../src/train/batches.js';
import { errorText, median } from './common.js';

export interface MatmulResult {
  kernel: string;
  M: number;
  N: number;
  K: number;
  /** Wall-clock milliseconds of one launch (median over the timed submissions); null when it failed. */
  ms: number | null;
  /** 2·M·N·K / ms, in TFLOP/s; null when it failed. */
  tflops: number | null;
  /** Whether the sampled entries of out matched the CPU dot products. */
  checked: boolean;
  /** Launches per submission. */
  reps: number;
  /** Mean GPU time of one launch from timestamp queries, or null without timestamp-query. */
  gpu_ms: number | null;
  error?: string;
}

/** A bare `--matmul` (last, or followed by another option) becomes `--matmul=default`. */
export function withBareMatmul(argv: string[]): string[] {
  return argv.map((a, i) => (a === '--matmul' && (i + 1 === argv.length || argv[i + 1].startsWith('--')) ? '--matmul=default' : a));
}

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
}

/**
 * The sizes of `--matmul`: comma-separated M x N x K or S (= S x S x S), each from 1 to 16384, or
 * 'default' (256 on SwiftShader, else 1024, 2048, 4096).
 */
export function matmulSizes(text: string, swiftshader: boolean): MatmulShape[] {
  const cube = (S: number) => ({ M: S, N: S, K: S });
  if (text.trim() === 'default') return (swiftshader ? [256] : [1024, 2048, 4096]).map(cube);
  return text.split(',').map((s) => {
    const parts = s.trim().toLowerCase().split('x').map(Number);
    const ok = (parts.length === 1 || parts.length === 3) && parts.every((n) => Number.isInteger(n) && n >= 1 && n <= 16384);
    if (!ok) throw new UsageError(`--matmul: '${s}' is neither M x N x K (e.g. 2048x576x576) nor a size S (M = N = K), each from 1 to 16384`);
    return parts.length === 1 ? cube(parts[0]) : { M: parts[0], N: parts[1], K: parts[2] };
  });
}

/** The operands of one shape: x [M, K] and out [M, N] forward, dout [M, N] and dinp [M, K] backward, W [N, K]. */
interface Operands {
  x: Tensor;
  out: Tensor;
  dout: Tensor;
  dinp: Tensor;
  w32: Tensor;
  w16: Tensor;
  xs: Float32Array;
  douts: Float32Array;
  ws: Float32Array;
  ws16: Float32Array;
}

interface Variant {
  kernel: string;
  /** The name the profiler counts the launches under. */
  spec: string;
  backward: boolean;
  f16: boolean;
  /** Why this variant cannot run at this shape, or null. */
  unsupported: (s: MatmulShape) => string | null;
  launch: (rec: Recorder, t: Operands, s: MatmulShape) => void;
}

const NOT_RUN = 'not run: ';
const needsK4 = ({ K }: MatmulShape) => (K % 4 === 0 ? null : `K = ${K} is not a multiple of 4`);
const needsNK4 = (s: MatmulShape) => (s.N % 4 === 0 ? needsK4(s) : `N = ${s.N} is not a multiple of 4`);

/**
 * Each kernel with the bindings its launcher gives it: operands (out, inp, weight, the bias slot),
 * then the fused LoRA term's slots, unread (filled with the input), and matmul_reg4x4_backward's
 * vec4 view of dout. The f16 variants are the kernel composed with the f16 weight reader.
 */
function variants(swiftshader: boolean): Variant[] {
  /** The forward launch dimensions every forward kernel here takes. */
  type ForwardKernel = WeightKernel<{ M: number; N: number; K: number; hasBias: boolean }>;
  const forward = (spec: ForwardKernel, f16: boolean, unsupported: Variant['unsupported']): Variant => ({
    kernel: f16 ? `${spec.name} (f16 weight)` : spec.name,
    spec: spec.name,
    backward: false,
    f16,
    unsupported,
    launch: (rec, t, { M, N, K }) => {
      const w = f16 ? t.w16 : t.w32;
      rec.run(spec.formats[f16 ? 'f16' : 'f32'], { M, N, K, hasBias: false }, [t.out, t.x, w, w, t.x, t.x]);
    },
  });
  const backward = (spec: WeightKernel<MatmulBackwardLaunch>, unsupported: Variant['unsupported']): Variant => ({
    kernel: spec.name,
    spec: spec.name,
    backward: true,
    f16: false,
    unsupported,
    launch: (rec, t, { M, N, K }) => {
      const dout4 = spec === matmulReg4x4BackwardKernel ? [reg4x4Dout4(N, t.dout, t.w32)] : [];
      rec.run(spec.formats.f32, { M, N, K, scale: 1, accumulate: false }, [t.dinp, t.dout, t.w32, t.dout, t.dout, ...dout4]);
    },
  });
  const list: Variant[] = [
    forward(matmulTile128ForwardKernel, false, needsK4),
    forward(matmulTile128ForwardKernel, true, needsK4),
    forward(matmulTile64ForwardKernel, false, () => null),
    backward(matmulTile128BackwardKernel, needsNK4),
    backward(matmulTile64BackwardKernel, () => null),
  ];
  if (swiftshader) {
    list.splice(3, 0, forward(matmulReg4x4ForwardKernel, false, needsK4));
    list.push(backward(matmulReg4x4BackwardKernel, needsK4));
  }
  return list;
}

function randomValues(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

/** Launches per submission: about 2 TFLOP of work on a GPU (0.1 GFLOP on SwiftShader), within [3, 200] ([1, 3]). */
function repsFor(flops: number, swiftshader: boolean): number {
  return swiftshader ? Math.max(1, Math.min(3, Math.round(1e8 / flops))) : Math.max(3, Math.min(200, Math.round(2e12 / flops)));
}

/** 16 entries (m, n): the corners and 12 seeded ones. */
function samples(M: number, N: number): Array<[number, number]> {
  const r = mulberry32(7);
  const picks: Array<[number, number]> = [[0, 0], [0, N - 1], [M - 1, 0], [M - 1, N - 1]];
  while (picks.length < 16) picks.push([Math.floor(r() * M), Math.floor(r() * N)]);
  return picks;
}

/**
 * null when every sampled entry of the output is within 1e-5 · Σ|products| + 1e-5 of the f64 dot
 * product, else where it is not. Forward out[m, n] = Σ_k x[m, k]·w[n, k]; backward
 * dinp[m, k] = Σ_n dout[m, n]·w[n, k].
 */
async function check(ctx: GpuContext, v: Variant, t: Operands, { M, N, K }: MatmulShape): Promise<string | null> {
  const w = v.f16 ? t.ws16 : t.ws;
  const [rows, cols, terms] = v.backward ? [M, K, N] : [M, N, K];
  for (const [m, c] of samples(rows, cols)) {
    const [got] = await readTensor(ctx, (v.backward ? t.dinp : t.out) as Tensor<'f32'>, m * cols + c, 1);
    let dot = 0;
    let mag = 0;
    for (let j = 0; j < terms; j++) {
      const p = v.backward ? t.douts[m * N + j] * w[j * K + c] : t.xs[m * K + j] * w[c * K + j];
      dot += p;
      mag += Math.abs(p);
    }
    if (!(Math.abs(got - dot) <= 1e-5 * mag + 1e-5)) return `${v.backward ? 'dinp' : 'out'}[${m}, ${c}] is ${got}, the CPU dot product ${dot.toPrecision(7)}`;
  }
  return null;
}

/** Wall-clock milliseconds of one submission of `reps` launches (recorded first, then timed to completion). */
async function timeSubmission(ctx: GpuContext, v: Variant, reps: number, t: Operands, s: MatmulShape, clear = false): Promise<number> {
  const rec = new Recorder(ctx, 'bench.matmul');
  if (clear) rec.clear(v.backward ? t.dinp : t.out);
  for (let i = 0; i < reps; i++) v.launch(rec, t, s);
  const start = performance.now();
  rec.submit();
  await ctx.device.queue.onSubmittedWorkDone();
  return performance.now() - start;
}

async function benchOne(ctx: GpuContext, v: Variant, s: MatmulShape, t: Operands, timing: { steps: number; warmup: number; swiftshader: boolean }): Promise<MatmulResult> {
  const flops = 2 * s.M * s.N * s.K;
  const reps = repsFor(flops, timing.swiftshader);
  const base = { kernel: v.kernel, M: s.M, N: s.N, K: s.K };
  const failed = (error: string): MatmulResult => ({ ...base, ms: null, tflops: null, checked: false, reps, gpu_ms: null, error });
  const why = v.unsupported(s);
  if (why) return failed(`${NOT_RUN}${why}`);
  try {
    // The first submission clears the output, so a kernel that writes nothing cannot pass the check.
    for (let i = 0; i < Math.max(1, timing.warmup); i++) await timeSubmission(ctx, v, reps, t, s, i === 0);
    const wall: number[] = [];
    for (let i = 0; i < timing.steps; i++) wall.push(await timeSubmission(ctx, v, reps, t, s));
    let gpuMs: number | null = null;
    if (enableProfiling(ctx) === null) {
      try {
        await timeSubmission(ctx, v, reps, t, s);
      } finally {
        disableProfiling(ctx);
      }
      const k = (await takeProfile(ctx)).times.get(v.spec);
      if (k && k.calls > 0 && k.ms > 0) gpuMs = k.ms / k.calls;
    }
    const bad = await check(ctx, v, t, s);
    if (bad) return failed(`wrong output: ${bad}`);
    const ms = median(wall) / reps;
    return { ...base, ms, tflops: flops / ms / 1e9, checked: true, reps, gpu_ms: gpuMs };
  } catch (e) {
    return failed(errorText(e));
  }
}

/**
 * Times every kernel at every size. `steps` and `warmup` are the raw --steps / --warmup values
 * (default: 5 timed submissions after 1 warm-up on a GPU, 2 after 1 on SwiftShader).
 */
export async function benchMatmul(
  ctx: GpuContext,
  sizes: MatmulShape[],
  opts: { swiftshader: boolean; steps?: string; warmup?: string; log?: (msg: string) => void },
): Promise<MatmulResult[]> {
  const timing = {
    steps: integerOption(opts.steps, 'steps', opts.swiftshader ? 2 : 5, 1),
    warmup: integerOption(opts.warmup, 'warmup', 1, 0),
    swiftshader: opts.swiftshader,
  };
  const results: MatmulResult[] = [];
  for (const s of sizes) {
    const { M, N, K } = s;
    const name = `${M}x${N}x${K}`;
    opts.log?.(`matmul ${name}: generating x [${M}, ${K}], dout [${M}, ${N}] and W [${N}, ${K}]`);
    const xs = randomValues(M * K, 1);
    const douts = randomValues(M * N, 3);
    const ws = randomValues(N * K, 2);
    const t: Operands = {
      xs,
      douts,
      ws,
      ws16: Float32Array.from(ws, roundToF16),
      x: createTensor(ctx, [M, K], 'f32', xs, 'bench.x'),
      dout: createTensor(ctx, [M, N], 'f32', douts, 'bench.dout'),
      w32: createTensor(ctx, [N, K], 'f32', ws, 'bench.w'),
      w16: createTensor(ctx, [N, K], 'f16', ws, 'bench.w16'),
      out: createTensor(ctx, [M, N], 'f32', undefined, 'bench.out'),
      dinp: createTensor(ctx, [M, K], 'f32', undefined, 'bench.dinp'),
    };
    try {
      for (const v of variants(opts.swiftshader)) {
        opts.log?.(`matmul ${name}: ${v.kernel}`);
        results.push(await benchOne(ctx, v, s, t, timing));
      }
    } finally {
      for (const x of [t.x, t.dout, t.w32, t.w16, t.out, t.dinp]) x.destroy();
    }
  }
  return results;
}

/** Whether a kernel that ran gave a wrong output or failed (a size a kernel does not take is not a failure). */
export function matmulFailed(results: MatmulResult[]): boolean {
  return results.some((r) => !r.checked && !r.error?.startsWith(NOT_RUN));
}

const fixed = (x: number | null, d: number) => (x === null ? '' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));

/** The results as a table, then the errors. */
export function formatMatmul(results: MatmulResult[]): string {
  const tflops = (x: number | null) => fixed(x, x !== null && x < 1 ? 4 : 2);
  const rows = [['kernel', 'M x N x K', 'reps', 'ms', 'TFLOP/s', 'GPU ms', 'GPU TFLOP/s', 'checked']];
  for (const r of results) {
    const gpuTflops = r.gpu_ms === null ? null : (2 * r.M * r.N * r.K) / r.gpu_ms / 1e9;
    const checked = r.checked ? 'yes' : r.error?.startsWith(NOT_RUN) ? '-' : 'NO';
    rows.push([r.kernel, `${r.M}x${r.N}x${r.K}`, String(r.reps), fixed(r.ms, 3), tflops(r.tflops), fixed(r.gpu_ms, 3), tflops(gpuTflops), checked]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = [
    'matmul: forward out[M, N] = x[M, K] · W[N, K]ᵀ, backward dinp[M, K] = dout[M, N] · W, fp32, no bias; ms = wall clock per launch (median of the timed submissions), GPU ms = timestamp queries',
    ...rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')),
  ];
  for (const r of results) if (r.error) lines.push(`${r.kernel} at ${r.M}x${r.N}x${r.K}: ${r.error}`);
  return lines.join('\n');
}
