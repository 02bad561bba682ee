// `webgpu-lora merge`: the golden stories260K adapter merged into its base model gives a complete
// model folder that `generate` loads, and whose greedy output equals the unmerged adapter's. From a
// quantized base (--weights nf4|q8) every projection the storage quantizes is merged as
// dequant(quant(W)) + s·B·A, checked element for element against the CPU quantizers, and the nf4
// merge generates what the nf4 base with the adapter does; --dtype f16|bf16 rounds the written
// tensors. The first merge runs the binary (bin/webgpu-lora.js); the rest, the generations and the
// failures run main() in this process.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dequantizeNf4, quantizeNf4 } from '../../src/gpu/quant/nf4.js';
import { dequantizeQ8, quantizeQ8 } from '../../src/gpu/quant/q8.js';
import type { LoraAdapter } from '../../src/lora/adapter.js';
import { loraScale } from '../../src/lora/config.js';
import { configWithDtype, mergeIntoTensor } from '../../src/lora/merge.js';
import { exportPeft, importPeft } from '../../src/lora/peft.js';
import { loadModelSpec, type ModelSpec } from '../../src/model/config.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, readSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli, cliInProcess } from './run-cli.js';

const MODEL = join(SHARED_DIR ?? '', 'models', 'stories260K');
const ADAPTER = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');
const OTHER_ADAPTER = join(SHARED_DIR ?? '', 'golden', 'qwen2-attn');
const GPT2 = join(SHARED_DIR ?? '', 'models', 'tiny-random-gpt2');
const GPT2_ADAPTER = join(SHARED_DIR ?? '', 'golden', 'gpt2-attn-mlp'); // c_attn, c_proj, c_fc

describe.skipIf(!SHARED_DIR)(`webgpu-lora merge${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'webgpu-lora-merge-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes a model folder whose greedy output equals generating with the unmerged adapter', async () => {
    const out = join(tmp, 'merged');
    const m = cli(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', out]);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/^merged 35 LoRA modules \(r 4\) into .*stories260K; wrote .*merged \(f32\):$/m);
    expect(m.stdout).toMatch(/^ {2}model\.safetensors \(\d+(\.\d)? (B|KiB|MiB)\)$/m);
    const files = readdirSync(out).sort();
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json']) {
      expect(files).toContain(f);
      expect(m.stdout).toContain(`  ${f} (`);
    }
    expect(files.some((f) => f.includes('.tmp-')), 'no temporary files left').toBe(false);

    for (const prompt of ['Once upon a time', 'The dog']) {
      const args = ['--prompt', prompt, '--max-new-tokens', '30'];
      const merged = await cliInProcess(['generate', '--model', out, ...args]);
      const adapted = await cliInProcess(['generate', '--model', MODEL, '--adapter', ADAPTER, ...args]);
      const base = await cliInProcess(['generate', '--model', MODEL, ...args]);
      for (const r of [merged, adapted, base]) expect(r.status, r.stderr).toBe(0);
      expect(merged.stdout).toBe(adapted.stdout);
      expect(merged.stdout).not.toBe(base.stdout);
    }
  });

  it('an adapter for another model fails and writes nothing', async () => {
    const out = join(tmp, 'wrong');
    const r = await cliInProcess(['merge', '--model', MODEL, '--adapter', OTHER_ADAPTER, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the adapter .*qwen2-attn cannot be used with the model .*stories260K/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses to write over the model folder, and missing options and bad --weights / --dtype values are usage errors', async () => {
    const bad = async (extra: string[], message: RegExp) => {
      const out = join(tmp, 'bad');
      const r = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', out, ...extra]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    };
    await bad(['--weights', 'f16'], /--weights must be f32, nf4 or q8, got 'f16'/);
    await bad(['--weights', 'int4'], /--weights must be f32, nf4 or q8, got 'int4'/);
    await bad(['--dtype', 'fp8'], /--dtype must be f32, f16 or bf16, got 'fp8'/);
    await bad(['--dtype', ''], /--dtype must be f32, f16 or bf16, got ''/);
    const same = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', MODEL]);
    expect(same.status).toBe(2);
    expect(same.stderr).toMatch(/--out must be a new folder, not the --model folder/);
    const noOut = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER]);
    expect(noOut.status).toBe(2);
    expect(noOut.stderr).toMatch(/merge needs --out <dir>/);
  });

  it('--dtype f16 and bf16 write every float tensor rounded from the f32 merge, and say so in config.json', async () => {
    const f32 = join(tmp, 'f32');
    const r = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', f32, '--dtype', 'f32']);
    expect(r.status, r.stderr).toBe(0);
    const want = await tensors(f32);
    expect(new Set([...want.values()].map((t) => t.dtype))).toEqual(new Set(['F32']));
    expect(readFileSync(join(f32, 'config.json'), 'utf8')).toBe(readFileSync(join(MODEL, 'config.json'), 'utf8')); // already float32
    for (const [dtype, st, torch, round] of [['f16', 'F16', 'float16', f16Round], ['bf16', 'BF16', 'bfloat16', bf16Round]] as const) {
      const out = join(tmp, dtype);
      const m = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', out, '--dtype', dtype]);
      expect(m.status, m.stderr).toBe(0);
      expect(m.stdout).toMatch(new RegExp(`wrote .*${dtype} \\(${dtype}\\):$`, 'm'));
      const got = await tensors(out);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, t] of got) {
        expect(t.dtype, name).toBe(st);
        expectSame(t.data, round(want.get(name)!.data), `${dtype} ${name}`);
      }
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
      expect(config.torch_dtype).toBe(torch);
      expect({ ...config, torch_dtype: 'float32' }).toEqual(JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')));
    }
  });

  it('--weights nf4 --dtype bf16 merges dequant(quant(W)) + s·B·A into every projection, with LoRA or not; the rest is bf16(W)', async () => {
    const out = join(tmp, 'nf4-bf16');
    const r = await cliInProcess(['merge', '--model', MODEL, '--adapter', await partialAdapter(), '--out', out, '--weights', 'nf4', '--dtype', 'bf16']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^merged 15 LoRA modules \(r 4\) into .*stories260K \(dequantized from nf4\); wrote .* \(bf16\):$/m);
    const got = await tensors(out);
    const { quantized, wrapped } = await expectMerged(got, 'nf4', bf16Round);
    expect(quantized).toBe(35); // all seven projections of the five layers
    expect(wrapped).toBe(15); // q, v and down of each layer; k, o, gate and up are quantized without LoRA
    expect([...got.values()].every((t) => t.dtype === 'BF16')).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
  });

  it('--weights q8 quantizes only the projections whose rows (K) are a multiple of 32: stories260K\'s down_proj (K 172) is merged as is', async () => {
    const spec = (await loadModelSpec(folderSource(MODEL))).spec;
    expect([spec.C, spec.NH * spec.HS, spec.F]).toEqual([64, 64, 172]); // K of q, k, v, gate, up (C), o (NH·HS) and down_proj (F)
    const out = join(tmp, 'q8');
    const r = await cliInProcess(['merge', '--model', MODEL, '--adapter', await partialAdapter(), '--out', out, '--weights', 'q8']);
    expect(r.status, r.stderr).toBe(0);
    const got = await tensors(out);
    const { quantized } = await expectMerged(got, 'q8', (x) => x);
    expect(quantized).toBe(30); // six projections of five layers; the five down_proj (W + s·B·A from W itself) are not
    expect(() => quantizeQ8(new Float32Array(spec.C * spec.F), spec.F)).toThrow(/not a multiple of 32/); // Q8_0 has no blocks for them
  });

  it('the --weights nf4 merge (f32) generates what the nf4 base with the adapter does', async () => {
    const out = join(tmp, 'nf4-f32');
    const r = await cliInProcess(['merge', '--model', MODEL, '--adapter', ADAPTER, '--out', out, '--weights', 'nf4']);
    expect(r.status, r.stderr).toBe(0);
    for (const prompt of ['Once upon a time', 'The dog']) {
      const args = ['--prompt', prompt, '--max-new-tokens', '30'];
      const merged = await cliInProcess(['generate', '--model', out, ...args]);
      const adapted = await cliInProcess(['generate', '--model', MODEL, '--weights', 'nf4', '--adapter', ADAPTER, ...args]);
      const base = await cliInProcess(['generate', '--model', MODEL, '--weights', 'nf4', ...args]);
      for (const g of [merged, adapted, base]) expect(g.status, g.stderr).toBe(0);
      expect(merged.stdout).toBe(adapted.stdout);
      expect(merged.stdout).not.toBe(base.stdout);
    }
  });

  it('--weights nf4 on GPT-2: its Conv1D weights [in, out] are quantized as the [out, in] matrices the GPU holds', async () => {
    const out = join(tmp, 'gpt2-nf4');
    const r = await cliInProcess(['merge', '--model', GPT2, '--adapter', GPT2_ADAPTER, '--out', out, '--weights', 'nf4']);
    expect(r.status, r.stderr).toBe(0);
    const spec = (await loadModelSpec(folderSource(GPT2))).spec;
    const adapter = await importPeft(folderSource(GPT2_ADAPTER), spec);
    const s = loraScale(adapter.config);
    const [base, got] = [await tensors(GPT2), await tensors(out)];
    let quantized = 0;
    for (const [name, { data: W, shape }] of base) {
      let want = W;
      if (/\.(c_attn|c_proj|c_fc)\.weight$/.test(name)) {
        // [in, out] → [out, in], NF4 of that, back. (The GPU quantizes c_attn as its q, k and v parts;
        // with C·C = 32·32 a multiple of 64 those are the same blocks as the whole matrix's.)
        const [inF, outF] = shape;
        const wq = dequantizeNf4(quantizeNf4(transpose(W, inF, outF)), W.length);
        want = transpose(wq, outF, inF);
        quantized++;
        const ab = adapter.weights.get(name.slice(0, -'.weight'.length));
        if (ab) want = mergeIntoTensor(want, shape, ab.A, ab.B, s, true);
      }
      expectSame(got.get(name)!.data, want, name);
    }
    expect(quantized).toBe(4 * spec.L);
  });

  /** The golden adapter cut down to q_proj, v_proj and down_proj (15 modules), written to a folder once. */
  let partial: string | undefined;
  async function partialAdapter(): Promise<string> {
    if (partial) return partial;
    const spec = (await loadModelSpec(folderSource(MODEL))).spec;
    const full = await importPeft(folderSource(ADAPTER), spec);
    const kinds = new Set(['q', 'v', 'down']);
    const modules = full.modules.filter((m) => kinds.has(m.kind));
    const adapter: LoraAdapter = {
      ...full,
      config: { ...full.config, targetModules: ['q_proj', 'v_proj', 'down_proj'] },
      modules,
      weights: new Map(modules.map((m) => [m.path, full.weights.get(m.path)!])),
    };
    const dir = join(tmp, 'partial-adapter');
    mkdirSync(dir);
    for (const [file, bytes] of Object.entries(exportPeft(adapter, spec))) writeFileSync(join(dir, file), bytes);
    return (partial = dir);
  }

  /**
   * Checks every tensor of a merge from a `weights` base against the test's own computation: a
   * projection ([out, in], the seven *_proj) is quantized and dequantized by the CPU quantizer
   * unless it is q8 with K not a multiple of 32, then gets s·B·A where the partial adapter wraps
   * it (ΔW = fp32(fp32(B·A)·s) added in f32); every other tensor is W; all rounded by `round`.
   * Returns how many projections were quantized and how many wrapped.
   */
  async function expectMerged(got: Map<string, Tensor>, weights: 'nf4' | 'q8', round: (x: Float32Array) => Float32Array) {
    const base = await tensors(MODEL);
    const spec: ModelSpec = (await loadModelSpec(folderSource(MODEL))).spec;
    const adapter = await importPeft(folderSource(await partialAdapter()), spec);
    const s = loraScale(adapter.config);
    expect([...got.keys()].sort()).toEqual([...base.keys()].sort());
    let quantized = 0;
    let wrapped = 0;
    for (const [name, { data: W, shape }] of base) {
      let want = W;
      if (/\.(q|k|v|o|gate|up|down)_proj\.weight$/.test(name)) {
        const [outF, inF] = shape;
        if (weights === 'nf4') want = dequantizeNf4(quantizeNf4(W), W.length);
        else if (inF % 32 === 0) want = dequantizeQ8(quantizeQ8(W, inF), W.length);
        if (want !== W) quantized++;
        expect(want.some((x, i) => x !== W[i]), `${name} changes when quantized`).toBe(want !== W);
        const ab = adapter.weights.get(name.slice(0, -'.weight'.length));
        if (ab) {
          wrapped++;
          const r = ab.A.length / inF;
          const merged = new Float32Array(want.length);
          for (let o = 0; o < outF; o++) {
            for (let i = 0; i < inF; i++) {
              let dot = 0;
              for (let k = 0; k < r; k++) dot += ab.B[o * r + k] * ab.A[k * inF + i];
              merged[o * inF + i] = want[o * inF + i] + Math.fround(Math.fround(dot) * s);
            }
          }
          want = merged;
        }
      }
      expectSame(got.get(name)!.data, round(want), `${weights} ${name}`);
    }
    return { quantized, wrapped };
  }
});

describe('configWithDtype', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  it('sets torch_dtype and dtype wherever they are, leaving every other byte as it was', () => {
    const config = '{\n  "rms_norm_eps": 1e-05,\n  "rope_theta": 10000.0,\n  "text_config": {"dtype": null},\n  "torch_dtype": "float32"\n}\n';
    expect(text(configWithDtype(bytes(config), 'bfloat16'))).toBe(config.replace('null', '"bfloat16"').replace('"float32"', '"bfloat16"'));
    expect(text(configWithDtype(bytes('{"dtype": "bfloat16", "a": 1}'), 'float16'))).toBe('{"dtype": "float16", "a": 1}');
  });
  it('adds torch_dtype to a config that has neither', () => {
    expect(JSON.parse(text(configWithDtype(bytes('{"a": 1}'), 'float16')))).toEqual({ a: 1, torch_dtype: 'float16' });
  });
});

describe('bf16 and f16 rounding of the merged tensors', () => {
  it('rounds to nearest even, overflowing to infinity, as torch does', () => {
    const bits = (x: number) => f32ToBf16(Float32Array.of(x))[0];
    expect(bits(1)).toBe(0x3f80);
    expect(bits(1 + 2 ** -8)).toBe(0x3f80); // a tie: to the even 1.0
    expect(bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // a tie: to the even 1 + 2⁻⁶
    expect(bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81); // past the tie
    expect(bits(-2.5)).toBe(0xc020);
    expect(bits(3.4e38)).toBe(0x7f80); // past bf16's largest finite value: inf
    expect(bits(-Infinity)).toBe(0xff80);
    expect(bits(NaN)).toBe(0x7fc0);
    expect(bits(-0)).toBe(0x8000);
  });
});

interface Tensor {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

/** Every tensor of a folder's model.safetensors, widened to f32. */
async function tensors(dir: string): Promise<Map<string, Tensor>> {
  const source = folderSource(dir);
  const header = await readSafetensorsHeader(source, 'model.safetensors');
  const out = new Map<string, Tensor>();
  for (const [name, info] of header.tensors) out.set(name, { dtype: info.dtype, shape: info.shape, data: await readTensorF32(source, header, name) });
  return out;
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

const f16Round = (x: Float32Array) => f16ToF32(f32ToF16(x));
const bf16Round = (x: Float32Array) => bf16ToF32(f32ToBf16(x));

/** Element for element equal (as f32 bits, so -0 ≠ 0), naming the first difference. */
function expectSame(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const [g, w] = [new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length)];
  const i = g.findIndex((x, k) => x !== w[k]);
  expect(i === -1 ? 'all equal' : `element ${i}: ${got[i]}, want ${want[i]}`, what).toBe('all equal');
}
