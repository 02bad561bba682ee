// The benchmark: its random-weight models have the real models' shapes and read back the same
// bytes however they are read, and the built bench (dist/bench/bench.mjs) runs end to end on
// stories260K, printing one JSON object with both sides' figures as its last line; `--matmul`
// times and checks every matmul kernel, forward and backward, at square and M x N x K sizes.
// (dist/bench is rebuilt first whenever its sources changed since it was built: test/setup/dist.ts.)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { matmulSizes } from '../../bench/matmul.js';
import { llamaTensors, parameterCount, QWEN25_05B, randomModelSource, SMOLLM2_135M, tensorValues, TILED_VALUES } from '../../bench/models.js';
import { NF4_VALUES } from '../../src/gpu/quant/nf4.js';
import { quantWords } from '../../src/gpu/quant/layout.js';
import { parseModelConfig } from '../../src/model/config.js';
import { loadModelSpec, streamWeights, loadWeights, type LoadedTensor } from '../../src/model/weights.js';
import { writeSafetensors } from '../../src/model/safetensors.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { ensureBuilt } from '../setup/dist.js';

const root = join(import.meta.dirname, '..', '..');

describe('--matmul sizes', () => {
  it('are S (= S x S x S) or M x N x K, each from 1 to 16384', () => {
    expect(matmulSizes('2048x576x576, 64', false)).toEqual([{ M: 2048, N: 576, K: 576 }, { M: 64, N: 64, K: 64 }]);
    expect(matmulSizes('default', true)).toEqual([{ M: 256, N: 256, K: 256 }]);
    for (const bad of ['2x3', '0', '20000', '8x8x0', 'big']) expect(() => matmulSizes(bad, false), bad).toThrow(/--matmul: .* is neither M x N x K/);
  });
});

describe('benchmark models', () => {
  it('have the parameter counts of SmolLM2-135M and Qwen2.5-0.5B', () => {
    const smol = parseModelConfig(SMOLLM2_135M, 'smollm2');
    expect([smol.C, smol.L, smol.NH, smol.KV, smol.HS, smol.F, smol.V]).toEqual([576, 30, 9, 3, 64, 1536, 49152]);
    expect(parameterCount(smol)).toBe(134_515_008);
    const qwen = parseModelConfig(QWEN25_05B, 'qwen');
    expect([qwen.C, qwen.L, qwen.NH, qwen.KV, qwen.HS, qwen.F, qwen.V, qwen.qkvBias]).toEqual([896, 24, 14, 2, 64, 4864, 151936, true]);
    expect(parameterCount(qwen)).toBe(494_032_768);
  });

  it('generate safetensors bytes equal to writeSafetensors, the same for any byte range', async () => {
    const config = { ...QWEN25_05B, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40 };
    const spec = parseModelConfig(config, 'tiny');
    const source = randomModelSource(config, 7);
    const whole = await source.read('model.safetensors');
    const want = writeSafetensors(llamaTensors(spec).map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: tensorValues(t, 7) })));
    expect(whole).toEqual(want);
    for (const [a, b] of [[0, 9], [5, 3000], [1234, 1235], [whole.length - 100, whole.length]]) {
      expect(await source.read('model.safetensors', a, b)).toEqual(whole.slice(a, b));
    }
    const w = await loadWeights(source, spec);
    expect(w.layers[1].attnNorm.data.every((x) => x === 1)).toBe(true);
    const q = w.layers[0].q.data;
    const std = Math.sqrt(q.reduce((s, x) => s + x * x, 0) / q.length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    expect(w.layers[0].qBias!.data.some((x) => x !== 0)).toBe(true);
  });

  it("'tiled' (--memory-only) repeats the first TILED_VALUES values of the normal fill", async () => {
    // (Compared as bytes: toEqual walks typed arrays element by element, slowly.)
    const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    const t = { name: 'model.layers.0.mlp.up_proj.weight', shape: [3 * TILED_VALUES + 100], init: 'normal' as const };
    const normal = tensorValues(t, 5);
    const tiled = tensorValues(t, 5, 'tiled');
    expect(same(tiled.subarray(0, TILED_VALUES), normal.subarray(0, TILED_VALUES))).toBe(true);
    for (const at of [TILED_VALUES, 2 * TILED_VALUES, 3 * TILED_VALUES]) expect(same(tiled.subarray(at, at + 100), normal.subarray(0, 100)), `at ${at}`).toBe(true);
    expect(same(tiled.subarray(TILED_VALUES), normal.subarray(TILED_VALUES))).toBe(false);
    const small = { name: 'model.norm.weight', shape: [4096], init: 'normal' as const };
    expect(same(tensorValues(small, 5, 'tiled'), tensorValues(small, 5))).toBe(true);
    // A tiled source reads the same bytes for any range too.
    const config = { ...QWEN25_05B, hidden_size: 512, intermediate_size: 256, num_hidden_layers: 1, num_attention_heads: 8, num_key_value_heads: 2, vocab_size: 300 };
    const source = randomModelSource(config, 7, 'tiled qwen', 'tiled');
    const whole = await source.read('model.safetensors');
    expect(same(await source.read('model.safetensors', 1000, 700_000), whole.subarray(1000, 700_000))).toBe(true);
  });
});

describe("'nf4' (--memory-only --weights nf4): a bitsandbytes NF4 checkpoint of random blocks", () => {
  // Wide enough that a projection (256 · 512 = 2 · TILED_VALUES codes) repeats its drawn codes.
  const config = { ...QWEN25_05B, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 300 };
  const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

  it('whose projections the loader takes as nf4 words, the other tensors those of the tiled fill', async () => {
    const source = randomModelSource(config, 7, 'nf4 qwen', 'nf4');
    const { spec } = await loadModelSpec(source);
    expect(spec.quantization).toEqual({ method: 'bitsandbytes', quantType: 'nf4', doubleQuant: false });
    const got = new Map<string, LoadedTensor>();
    await streamWeights(source, spec, (field, t) => got.set(field, t));
    const tiled = await loadWeights(randomModelSource(config, 7, 'tiled qwen', 'tiled'), spec);
    const projections = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
    for (let l = 0; l < spec.L; l++) {
      for (const p of projections) {
        const t = got.get(`layers.${l}.${p}`)!;
        expect('nf4' in t, `layers.${l}.${p} is handed on as nf4 words`).toBe(true);
        const words = (t as { nf4: Uint32Array }).nf4;
        const n = t.shape.reduce((a, b) => a * b, 1);
        expect(words.length).toBe(quantWords('nf4', n));
        const absmax = new Float32Array(words.buffer).filter((_, i) => i % 9 === 0);
        expect(absmax.every((a) => a >= 0.04 && a < 0.06), `layers.${l}.${p} absmax in [0.04, 0.06)`).toBe(true);
        const codes = new Set<number>();
        words.forEach((w, i) => i % 9 !== 0 && [0, 4, 8, 12, 16, 20, 24, 28].forEach((s) => codes.add((w >>> s) & 15)));
        expect(codes.size, 'every NF4 code occurs').toBe(16);
      }
      expect(same((got.get(`layers.${l}.attnNorm`) as { data: Float32Array }).data, tiled.layers[l].attnNorm.data)).toBe(true);
      expect(same((got.get(`layers.${l}.qBias`) as { data: Float32Array }).data, tiled.layers[l].qBias!.data)).toBe(true);
    }
    expect(same((got.get('embed') as { data: Float32Array }).data, tiled.embed.data)).toBe(true);
    // The up projection's codes repeat after its TILED_VALUES drawn ones (words of the second half = the first's), its absmax too.
    const up = (got.get('layers.0.up') as { nf4: Uint32Array }).nf4;
    const half = (TILED_VALUES / 64) * 9;
    expect(up.length).toBe(2 * half);
    expect(same(up.subarray(half), up.subarray(0, half))).toBe(true);
    expect(same((got.get('layers.1.up') as { nf4: Uint32Array }).nf4, up)).toBe(false); // each tensor its own stream
    // Dequantized (what loadWeights gives): NF4[code] · absmax, the codes those of the file's first bytes (high nibble first).
    const file = await source.read('model.safetensors');
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true)))));
    const entry = header['model.layers.0.mlp.down_proj.weight'];
    expect([entry.dtype, entry.shape]).toEqual(['U8', [(256 * 512) / 2, 1]]);
    const byte0 = file[8 + Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true)) + entry.data_offsets[0]];
    const down = (await loadWeights(source, spec)).layers[0].down.data;
    const absmax0 = new Float32Array((got.get('layers.0.down') as { nf4: Uint32Array }).nf4.buffer)[0];
    expect([down[0], down[1]]).toEqual([Math.fround(NF4_VALUES[byte0 >> 4] * absmax0), Math.fround(NF4_VALUES[byte0 & 15] * absmax0)]);
  });

  it('reads the same bytes for any range, and config.json names its quantization', async () => {
    const source = randomModelSource(config, 7, 'nf4 qwen', 'nf4');
    const whole = await source.read('model.safetensors');
    for (const [a, b] of [[0, 9], [1000, 700_000], [whole.length - 5000, whole.length]]) expect(same(await source.read('model.safetensors', a, b), whole.subarray(a, b)), `[${a}, ${b})`).toBe(true);
    const stored = JSON.parse(new TextDecoder().decode(await source.read('config.json')));
    expect(stored.quantization_config).toMatchObject({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4' });
    expect({ ...stored, quantization_config: undefined }).toEqual({ ...config, quantization_config: undefined });
  });
});

describe.skipIf(!SHARED_DIR)(`the built benchmark${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  beforeAll(() => ensureBuilt('bench'), 300_000);

  it('measures the engine and tfjs on stories260K and ends with one JSON object', () => {
    const run = spawnSync(process.execPath, ['dist/bench/bench.mjs', '--models', 'stories260K', '--shapes', '1x16', '--steps', '2', '--json'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 280_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^adapter: /);
    const report = JSON.parse(lines[lines.length - 1]);
    expect(typeof report.adapter).toBe('string');
    expect(report.adapter.length).toBeGreaterThan(0);
    expect(report.results).toHaveLength(1);
    const r = report.results[0];
    expect([r.model, r.batch, r.seq]).toEqual(['stories260K', 1, 16]);
    const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
    for (const side of ['engine', 'tfjs'] as const) {
      expect(r[side].error, `${side} error`).toBeUndefined();
      for (const field of ['step_ms', 'tokens_per_s', 'peak_bytes']) expect(positive(r[side][field]), `${side}.${field} = ${r[side][field]}`).toBe(true);
      expect(r[side].tokens_per_s).toBeCloseTo(16 / (r[side].step_ms / 1000), 6);
      expect(r[side].steps_ms).toHaveLength(2);
    }
    expect(positive(r.ratio.tokens_per_s) && positive(r.ratio.peak_bytes)).toBe(true);
    expect(r.ratio.tokens_per_s).toBeCloseTo(r.engine.tokens_per_s / r.tfjs.tokens_per_s, 9);
    // The same weights, adapter and batch: the first step's losses agree.
    expect(Math.abs(r.engine.first_loss - r.tfjs.first_loss)).toBeLessThan(1e-3 * Math.abs(r.tfjs.first_loss));
    // The engine's kernels, most GPU time first, with the matmuls among them.
    const kernels: Array<{ name: string; calls: number; ms: number }> = r.engine.kernels;
    expect(kernels.length).toBeGreaterThan(5);
    // (matmul_tile64_forward or, where barriers are slow, matmul_reg4x4_forward: src/gpu/policy.ts)
    expect(kernels.map((k) => k.name).some((n) => /^matmul_(tile64|reg4x4)_forward$/.test(n))).toBe(true);
    for (const k of kernels) expect(k.calls > 0 && k.ms >= 0).toBe(true);
    expect(kernels.every((k, i) => i === 0 || kernels[i - 1].ms >= k.ms)).toBe(true);
    // Each row is also logged as it is done (what a run stopped from outside leaves behind).
    const logged = run.stderr.split('\n').filter((l) => l.startsWith('bench: result: '));
    expect(logged.map((l) => JSON.parse(l.slice('bench: result: '.length)))).toEqual(report.results);
  }, 300_000);

  it('times and checks every matmul kernel, forward and backward, at --matmul sizes', () => {
    const run = spawnSync(process.execPath, ['dist/bench/bench.mjs', '--matmul', '64,40x36x72,33x20x18', '--json'], { cwd: root, encoding: 'utf8', timeout: 280_000 });
    expect(run.status, run.stderr).toBe(0);
    const results: Array<{ kernel: string; M: number; N: number; K: number; checked: boolean; tflops: number | null; error?: string }> = JSON.parse(run.stdout.trim().split('\n').pop()!).matmul;
    const kernels = ['matmul_tile128_forward', 'matmul_tile128_forward (f16 weight)', 'matmul_tile64_forward', 'matmul_reg4x4_forward', 'matmul_tile128_backward', 'matmul_tile64_backward', 'matmul_reg4x4_backward'];
    expect(results.map((r) => `${r.kernel} ${r.M}x${r.N}x${r.K}`)).toEqual(['64x64x64', '40x36x72', '33x20x18'].flatMap((s) => kernels.map((k) => `${k} ${s}`)));
    for (const r of results) {
      // The vec4 kernels do not take K = 18; everything else runs and matches the CPU.
      if (r.K === 18 && /tile128|reg4x4/.test(r.kernel)) expect(r.error).toMatch(/^not run: K = 18 is not a multiple of 4/);
      else expect([r.checked, r.tflops! > 0, r.error], `${r.kernel} at ${r.M}x${r.N}x${r.K}`).toEqual([true, true, undefined]);
    }
  }, 300_000);

  it('stops a tfjs measurement at --tfjs-timeout and reports it as the error of its row', () => {
    const args = ['--models', 'stories260K', '--shapes', '1x16', '--steps', '1', '--warmup', '0', '--no-profile', '--tfjs-timeout', '1', '--json'];
    const run = spawnSync(process.execPath, ['dist/bench/bench.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 280_000 });
    // Loading tfjs and compiling its shaders on SwiftShader alone take longer than a second.
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout.trim().split('\n').pop()!).results[0];
    expect(r.engine.error).toBeUndefined();
    expect(r.engine.step_ms).toBeGreaterThan(0);
    expect(r.tfjs.error).toMatch(/the tfjs process was stopped after the 1 s of --tfjs-timeout/);
  }, 300_000);
});
