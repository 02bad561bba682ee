// `--matmul SIZES`: the speed of one matmul kernel alone, out[M, N] = x[M, K] · W[N, K]ᵀ (fp32, W in
// the nn.Linear layout as stored, no bias) at M = N = K = each size, for matmul_tile128_forward
// (f32 and f16 weights), matmul_forward (64 × 64 tiles) and, on SwiftShader, matmul_regtile_forward.
//
// Each kernel: one warm-up submission (it compiles the pipeline), then `steps` timed submissions,
// each holding R launches recorded into one command buffer and timed by the wall clock from
// queue.submit to onSubmittedWorkDone; `ms` is the median over the submissions divided by R, and
// tflops = 2·M·N·K / ms. Where the device has timestamp-query, one more submission of R launches
// runs with each launch in a timed pass of its own (src/gpu/profile.ts) and gives `gpu_ms`, the mean
// GPU time of one launch. Then 16 entries of out (the four corners and 12 seeded ones) are compared
// with a CPU dot product in f64: a kernel whose output is wrong reports no speed (`checked` false,
// `error` says where).
import { integerOption, UsageError } from '../src/cli/common.js';
import type { GpuContext } from '../src/gpu/device.js';
import { roundToF16 } from '../src/gpu/f16.js';
import { Recorder } from '../src/gpu/kernel.js';
import { matmulForwardKernel, matmulRegtileForwardKernel, type MatmulLaunch } from '../src/gpu/kernels/matmul.js';
import { matmulTile128ForwardKernel } from '../src/gpu/kernels/matmul-tile128.js';
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

/** The sizes of `--matmul`: comma-separated integers, or 'default' (256 on SwiftShader, else 1024, 2048, 4096). */
export function matmulSizes(text: string, swiftshader: boolean): number[] {
  if (text.trim() === 'default') return swiftshader ? [256] : [1024, 2048, 4096];
  return text.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 16384) throw new UsageError(`--matmul: '${s}' is not a size from 1 to 16384 (M = N = K)`);
    return n;
  });
}

interface Variant {
  kernel: string;
  /** The name the profiler counts the launches under. */
  spec: string;
  f16: boolean;
  /** Why this variant cannot run at K, or null. */
  unsupported: (K: number) => string | null;
  launch: (rec: Recorder, out: Tensor, x: Tensor, w: Tensor, M: number, N: number, K: number) => void;
}

const NOT_RUN = 'not run: ';
const needsK4 = (K: number) => (K % 4 === 0 ? null : `K = ${K} is not a multiple of 4`);

/**
 * The existing kernels' bindings (out, inp, weight, bias slot, the packed-weight slot where they
 * have one, and matmul_regtile_forward's unread fused-update slots).
 */
function existing(spec: typeof matmulForwardKernel): Variant['launch'] {
  return (rec, out, x, w, M, N, K) => {
    const d: MatmulLaunch = { M, N, K, hasBias: false };
    rec.run(spec, d, [out, x, w, w, w, x, x].slice(0, spec.bindings.length));
  };
}

function variants(swiftshader: boolean): Variant[] {
  const tile128 = (f16: boolean): Variant => ({
    kernel: f16 ? 'matmul_tile128_forward (f16 weight)' : 'matmul_tile128_forward',
    spec: matmulTile128ForwardKernel.name,
    f16,
    unsupported: needsK4,
    launch: (rec, out, x, w, M, N, K) => rec.run(matmulTile128ForwardKernel, { M, N, K, hasBias: false, weightF16: f16 }, [out, x, w, w, w]),
  });
  const list: Variant[] = [
    tile128(false),
    tile128(true),
    { kernel: 'matmul_forward', spec: matmulForwardKernel.name, f16: false, unsupported: () => null, launch: existing(matmulForwardKernel) },
  ];
  if (swiftshader) {
    list.push({ kernel: 'matmul_regtile_forward', spec: matmulRegtileForwardKernel.name, f16: false, unsupported: needsK4, launch: existing(matmulRegtileForwardKernel) });
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

/** null when every sampled entry of out is within 1e-5 · Σ|x·w| + 1e-5 of the f64 dot product, else where it is not. */
async function check(ctx: GpuContext, out: Tensor, x: Float32Array, w: Float32Array, M: number, N: number, K: number): Promise<string | null> {
  for (const [m, n] of samples(M, N)) {
    const [got] = await readTensor(ctx, out as Tensor<'f32'>, m * N + n, 1);
    let dot = 0;
    let mag = 0;
    for (let k = 0; k < K; k++) {
      const p = x[m * K + k] * w[n * K + k];
      dot += p;
      mag += Math.abs(p);
    }
    if (!(Math.abs(got - dot) <= 1e-5 * mag + 1e-5)) return `out[${m}, ${n}] is ${got}, the CPU dot product ${dot.toPrecision(7)}`;
  }
  return null;
}

/** Wall-clock milliseconds of one submission of `reps` launches (recorded first, then timed to completion). */
async function timeSubmission(ctx: GpuContext, v: Variant, reps: number, out: Tensor, x: Tensor, w: Tensor, size: number, clear = false): Promise<number> {
  const rec = new Recorder(ctx, 'bench.matmul');
  if (clear) rec.clear(out);
  for (let i = 0; i < reps; i++) v.launch(rec, out, x, w, size, size, size);
  const start = performance.now();
  rec.submit();
  await ctx.device.queue.onSubmittedWorkDone();
  return performance.now() - start;
}

async function benchOne(
  ctx: GpuContext,
  v: Variant,
  size: number,
  t: { x: Tensor; w32: Tensor; w16: Tensor; out: Tensor; xs: Float32Array; ws: Float32Array; ws16: Float32Array },
  timing: { steps: number; warmup: number; swiftshader: boolean },
): Promise<MatmulResult> {
  const flops = 2 * size ** 3;
  const reps = repsFor(flops, timing.swiftshader);
  const base = { kernel: v.kernel, M: size, N: size, K: size };
  const failed = (error: string): MatmulResult => ({ ...base, ms: null, tflops: null, checked: false, reps, gpu_ms: null, error });
  const why = v.unsupported(size);
  if (why) return failed(`${NOT_RUN}${why}`);
  const w = v.f16 ? t.w16 : t.w32;
  try {
    // The first submission clears out, so a kernel that writes nothing cannot pass the check.
    for (let i = 0; i < Math.max(1, timing.warmup); i++) await timeSubmission(ctx, v, reps, t.out, t.x, w, size, i === 0);
    const wall: number[] = [];
    for (let i = 0; i < timing.steps; i++) wall.push(await timeSubmission(ctx, v, reps, t.out, t.x, w, size));
    let gpuMs: number | null = null;
    if (enableProfiling(ctx) === null) {
      try {
        await timeSubmission(ctx, v, reps, t.out, t.x, w, size);
      } finally {
        disableProfiling(ctx);
      }
      const k = (await takeProfile(ctx)).times.get(v.spec);
      if (k && k.calls > 0 && k.ms > 0) gpuMs = k.ms / k.calls;
    }
    const bad = await check(ctx, t.out, t.xs, v.f16 ? t.ws16 : t.ws, size, size, size);
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
  sizes: number[],
  opts: { swiftshader: boolean; steps?: string; warmup?: string; log?: (msg: string) => void },
): Promise<MatmulResult[]> {
  const timing = {
    steps: integerOption(opts.steps, 'steps', opts.swiftshader ? 2 : 5, 1),
    warmup: integerOption(opts.warmup, 'warmup', 1, 0),
    swiftshader: opts.swiftshader,
  };
  const results: MatmulResult[] = [];
  for (const size of sizes) {
    opts.log?.(`matmul ${size}: generating x and W (${size} x ${size} each)`);
    const xs = randomValues(size * size, 1);
    const ws = randomValues(size * size, 2);
    const ws16 = Float32Array.from(ws, roundToF16);
    const t = {
      xs,
      ws,
      ws16,
      x: createTensor(ctx, [size, size], 'f32', xs, 'bench.x'),
      w32: createTensor(ctx, [size, size], 'f32', ws, 'bench.w'),
      w16: createTensor(ctx, [size, size], 'f16', ws, 'bench.w16'),
      out: createTensor(ctx, [size, size], 'f32', undefined, 'bench.out'),
    };
    try {
      for (const v of variants(opts.swiftshader)) {
        opts.log?.(`matmul ${size}: ${v.kernel}`);
        results.push(await benchOne(ctx, v, size, t, timing));
      }
    } finally {
      for (const x of [t.x, t.w32, t.w16, t.out]) x.destroy();
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
  const rows = [['kernel', 'M=N=K', 'reps', 'ms', 'TFLOP/s', 'GPU ms', 'GPU TFLOP/s', 'checked']];
  for (const r of results) {
    const gpuTflops = r.gpu_ms === null ? null : (2 * r.M * r.N * r.K) / r.gpu_ms / 1e9;
    const checked = r.checked ? 'yes' : r.error?.startsWith(NOT_RUN) ? '-' : 'NO';
    rows.push([r.kernel, String(r.M), String(r.reps), fixed(r.ms, 3), tflops(r.tflops), fixed(r.gpu_ms, 3), tflops(gpuTflops), checked]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = [
    'matmul: out[M, N] = x[M, K] · W[N, K]ᵀ, fp32, no bias; ms = wall clock per launch (median of the timed submissions), GPU ms = timestamp queries',
    ...rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')),
  ];
  for (const r of results) if (r.error) lines.push(`${r.kernel} at ${r.M}: ${r.error}`);
  return lines.join('\n');
}
