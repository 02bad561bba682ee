// bitsandbytes 4-bit NF4 checkpoints (src/model/bnb.ts), loaded as they are. The fixtures are
// written here from real small models of ../shared/models, each projection quantized and saved
// the way bitsandbytes does it (read from its source, bitsandbytes-foundation/bitsandbytes):
//   - quantize_4bit (backends/default/ops.py, the pure-torch kernel; csrc/kernels.cu
//     kQuantizeBlockwise for CUDA): blocks of 64 of the flattened [N, K] weight, absmax = max |w|
//     (f32), scaled = clamp(w · f32(1 / absmax), −1, 1), code = torch.bucketize(scaled, midpoints
//     of the NF4 table) (a value on a midpoint takes the lower code); packed two per byte, byte
//     j = code[2j] << 4 | code[2j + 1] (an odd count padded with the code of 0), shape [⌈n/2⌉, 1];
//   - with compress_statistics (bnb_4bit_use_double_quant): offset = mean(absmax), then
//     quantize_blockwise(absmax − offset, blocksize=256) with create_dynamic_map() (signed, 7
//     exponent bits, 8 bits: 256 sorted values), the same clamp-and-bucketize rule;
//   - Linear4bit._save_to_state_dict / QuantState.as_dict(packed=True): <m>.weight,
//     <m>.weight.absmax, <m>.weight.quant_map, <m>.weight.nested_absmax,
//     <m>.weight.nested_quant_map, <m>.weight.quant_state.bitsandbytes__nf4 (json.dumps of
//     quant_type, blocksize, dtype, shape[, nested_blocksize, nested_dtype, nested_offset] as U8).
// config.json gets transformers' BitsAndBytesConfig.to_dict() as quantization_config.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NF4_VALUES, dequantizeNf4, quantizeNf4 } from '../../src/gpu/quant/nf4.js';
import { readTensor, type Tensor } from '../../src/gpu/tensor.js';
import { bnbNf4Words, bnbWhere, parseQuantizationConfig, type BnbParts } from '../../src/model/bnb.js';
import { destroyInferenceState, forward } from '../../src/model/forward.js';
import { PROJECTION_FIELDS } from '../../src/model/gpu-weights.js';
import { LanguageModel } from '../../src/model/model.js';
import { readSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { memorySource, type ModelSource } from '../../src/model/source.js';
import { loadModelSpec, loadWeights } from '../../src/model/weights.js';
import { gpu, NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';

const f32 = Math.fround;

// bitsandbytes' NF4 table (functional.py get_4bit_type('nf4'), backends/utils.py _NF4_QUANT_TABLE), as written there.
const BNB_NF4 = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** torch.linspace(start, end, steps, dtype=float32) as its CPU kernel computes it (f32 steps from both ends). */
function linspaceF32(start: number, end: number, steps: number): number[] {
  const [s, e] = [f32(start), f32(end)];
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)))));
}

/** functional.py create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted f32 values. */
function createDynamicMap(): Float32Array {
  const [maxExp, nonSign] = [7, 7];
  const data: number[] = [];
  for (let i = 0; i < maxExp; i++) {
    const items = 2 ** (i + nonSign - maxExp) + 1;
    const b = linspaceF32(0.1, 1, items);
    const means = b.slice(0, -1).map((x, j) => f32(f32(x + b[j + 1]) / 2));
    const scale = f32(Number(`1e${-(maxExp - 1) + i}`)); // Python's 10 ** (i - 6), a float times an f32 tensor
    for (const m of means) data.push(f32(scale * m));
    for (const m of means) data.push(-f32(scale * m));
  }
  // additional_items = 2^(7 − 7) − 1 = 0: none.
  data.push(0, 1);
  expect(data.length).toBe(256);
  return Float32Array.from(data.sort((a, b) => a - b));
}

/** torch.bucketize(x, bounds) (right=False): the number of bounds strictly below x. */
function bucketize(x: number, bounds: Float32Array): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const midpoints = (code: Float32Array) => Float32Array.from(code.subarray(1), (v, i) => f32(f32(code[i] + v) / 2));

/** The default backend's blockwise rule: absmax per block, codes of clamp(x · f32(1/absmax)) by bucketize. */
function quantizeBlocks(x: Float32Array, blocksize: number, code: Float32Array): { codes: Uint8Array; absmax: Float32Array } {
  const bounds = midpoints(code);
  const blocks = Math.ceil(x.length / blocksize);
  const codes = new Uint8Array(x.length);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const [s, e] = [b * blocksize, Math.min(x.length, (b + 1) * blocksize)];
    let am = 0;
    for (let i = s; i < e; i++) am = Math.max(am, Math.abs(x[i]));
    absmax[b] = am;
    const inv = f32(1 / Math.max(am, f32(1e-38)));
    for (let i = s; i < e; i++) codes[i] = bucketize(Math.min(1, Math.max(-1, f32(x[i] * inv))), bounds);
  }
  return { codes, absmax };
}

interface BnbQuantized {
  packed: Uint8Array;
  absmax: Float32Array | Uint8Array;
  nestedAbsmax?: Float32Array;
  offset?: number;
  state: string;
}

const DYNAMIC = createDynamicMap();

/** quantize_4bit(w, blocksize, quant_type='nf4', compress_statistics=doubleQuant) and QuantState.as_dict(packed=True)'s JSON. */
function bnbQuantize(w: Float32Array, shape: number[], doubleQuant: boolean, blocksize = 64): BnbQuantized {
  const { codes, absmax } = quantizeBlocks(w, blocksize, BNB_NF4);
  const n = w.length;
  const pad = bucketize(0, midpoints(BNB_NF4)); // scaled is padded with 0 for an odd count
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let j = 0; j < packed.length; j++) packed[j] = (codes[2 * j] << 4) | (2 * j + 1 < n ? codes[2 * j + 1] : pad);
  // json.dumps of the non-tensor items, in as_dict's order.
  const fields: string[] = [`"quant_type": "nf4"`, `"blocksize": ${blocksize}`, `"dtype": "float32"`, `"shape": [${shape.join(', ')}]`];
  if (!doubleQuant) return { packed, absmax, state: `{${fields.join(', ')}}` };
  let sum = 0;
  for (const a of absmax) sum += a;
  const offset = f32(sum / absmax.length);
  const centred = Float32Array.from(absmax, (a) => f32(a - offset));
  const nested = quantizeBlocks(centred, 256, DYNAMIC);
  fields.push(`"nested_blocksize": 256`, `"nested_dtype": "float32"`, `"nested_offset": ${offset}`);
  return { packed, absmax: nested.codes, nestedAbsmax: nested.absmax, offset, state: `{${fields.join(', ')}}` };
}

/** The absmax that bitsandbytes' dequantize_4bit recovers from a double-quantized state: f32(f32(map[q] · nested_absmax) + offset). */
function bnbDoubleDequantAbsmax(q: BnbQuantized): Float32Array {
  const codes = q.absmax as Uint8Array;
  return Float32Array.from(codes, (c, b) => f32(f32(DYNAMIC[c] * q.nestedAbsmax![Math.floor(b / 256)]) + f32(q.offset!)));
}

// ---- Writing the fixture ------------------------------------------------------------------------

interface RawTensor {
  name: string;
  dtype: 'F32' | 'U8';
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file of F32 and U8 tensors (src/model/safetensors.ts's writer has no U8): JSON header padded to 8 bytes, then the data. */
function writeRaw(tensors: RawTensor[]): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.dtype === b.dtype ? (a.name < b.name ? -1 : 1) : a.dtype === 'F32' ? -1 : 1));
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const t of sorted) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const len = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + len + offset).fill(0x20, 8, 8 + len);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.set(json, 8);
  let at = 8 + len;
  for (const t of sorted) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
const PROJECTION = /\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.weight$/;

interface Fixture {
  source: ModelSource;
  original: ModelSource;
  /** Each projection's bnb tensors by weight name. */
  quantized: Map<string, BnbQuantized>;
}

interface FixtureOptions {
  doubleQuant: boolean;
  /** Replaces config.json's quantization_config. */
  quantizationConfig?: Record<string, unknown>;
  /** Changes the tensors before they are written (e.g. to drop one). */
  edit?: (tensors: RawTensor[]) => RawTensor[];
  /** Quantizes with this blocksize (bitsandbytes allows 32 .. 4096). */
  blocksize?: number;
}

/** transformers' BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4', ...).to_dict(). */
const bnbConfig = (doubleQuant: boolean) => ({
  _load_in_4bit: true,
  _load_in_8bit: false,
  bnb_4bit_compute_dtype: 'float32',
  bnb_4bit_quant_storage: 'uint8',
  bnb_4bit_quant_type: 'nf4',
  bnb_4bit_use_double_quant: doubleQuant,
  llm_int8_enable_fp32_cpu_offload: false,
  llm_int8_has_fp16_weight: false,
  llm_int8_skip_modules: null,
  llm_int8_threshold: 6.0,
  load_in_4bit: true,
  load_in_8bit: false,
  quant_method: 'bitsandbytes',
});

/** A bnb-4bit checkpoint of ../shared/models/<model>, in memory: every projection quantized and saved as bitsandbytes does. */
async function bnbFixture(model: string, opts: FixtureOptions): Promise<Fixture> {
  const dir = join(SHARED_DIR!, 'models', model);
  const original = folderSource(dir);
  const header = await readSafetensorsHeader(original, 'model.safetensors');
  let tensors: RawTensor[] = [];
  const quantized = new Map<string, BnbQuantized>();
  for (const [name, info] of header.tensors) {
    const data = await readTensorF32(original, header, name);
    if (!PROJECTION.test(name)) {
      tensors.push({ name, dtype: 'F32', shape: info.shape, bytes: f32Bytes(data) });
      continue;
    }
    const q = bnbQuantize(data, info.shape, opts.doubleQuant, opts.blocksize);
    quantized.set(name, q);
    tensors.push({ name, dtype: 'U8', shape: [q.packed.length, 1], bytes: q.packed });
    tensors.push({ name: `${name}.absmax`, dtype: q.nestedAbsmax ? 'U8' : 'F32', shape: [q.absmax.length], bytes: q.absmax instanceof Float32Array ? f32Bytes(q.absmax) : q.absmax });
    tensors.push({ name: `${name}.quant_map`, dtype: 'F32', shape: [16], bytes: f32Bytes(BNB_NF4) });
    if (q.nestedAbsmax) {
      tensors.push({ name: `${name}.nested_absmax`, dtype: 'F32', shape: [q.nestedAbsmax.length], bytes: f32Bytes(q.nestedAbsmax) });
      tensors.push({ name: `${name}.nested_quant_map`, dtype: 'F32', shape: [256], bytes: f32Bytes(DYNAMIC) });
    }
    const state = new TextEncoder().encode(q.state);
    tensors.push({ name: `${name}.quant_state.bitsandbytes__nf4`, dtype: 'U8', shape: [state.length], bytes: state });
  }
  if (opts.edit) tensors = opts.edit(tensors);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.quantization_config = opts.quantizationConfig ?? bnbConfig(opts.doubleQuant);
  const files: Record<string, Uint8Array> = {
    'config.json': new TextEncoder().encode(JSON.stringify(config, null, 2)),
    'model.safetensors': writeRaw(tensors),
  };
  try {
    files['generation_config.json'] = readFileSync(join(dir, 'generation_config.json'));
  } catch {
    // none
  }
  return { source: memorySource(files, `bnb-${model}`), original, quantized };
}

/** The projections of a loaded model with their layer, field and checkpoint weight name. */
function projections(model: LanguageModel): Array<{ name: string; layer: number; field: string; t: Tensor }> {
  const names: Record<string, string> = { q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj', gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj' };
  return model.weights.weights.layers.flatMap((layer, l) =>
    Object.entries(layer)
      .filter(([f]) => PROJECTION_FIELDS.has(f))
      .map(([f, t]) => ({ name: `model.layers.${l}.${names[f]}.weight`, layer: l, field: f, t: t as Tensor })),
  );
}

type Typed = Float32Array | Uint32Array | Uint8Array | Int32Array;
const bytesOf = (a: Typed) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
/** Bit-for-bit equality of two typed arrays. */
const same = (a: Typed, b: Typed) => a.length === b.length && Buffer.compare(bytesOf(a), bytesOf(b)) === 0;

/** The f32 values of the original checkpoint's tensor `name`. */
async function originalTensor(source: ModelSource, name: string): Promise<Float32Array> {
  return readTensorF32(source, await readSafetensorsHeader(source, 'model.safetensors'), name);
}

/** The reference words of a double-quantized weight: quantizeNf4's codes of the original (bitsandbytes quantizes with the exact absmax) under the double-dequantized absmax. */
function doubleQuantWords(original: Float32Array, q: BnbQuantized): Uint32Array {
  const words = quantizeNf4(original);
  const absmax = bnbDoubleDequantAbsmax(q);
  const bits = new Uint32Array(absmax.buffer);
  for (let b = 0; b < absmax.length; b++) words[9 * b] = bits[b];
  return words;
}

const MODELS = ['stories260K', 'tiny-random-qwen3'];

describe('bitsandbytes quantization_config', () => {
  const where = 'x/config.json';
  it('accepts nf4 4-bit, with or without double quantization', () => {
    expect(parseQuantizationConfig(undefined, where)).toBeNull();
    expect(parseQuantizationConfig(bnbConfig(false), where)).toEqual({ method: 'bitsandbytes', quantType: 'nf4', doubleQuant: false });
    expect(parseQuantizationConfig(bnbConfig(true), where)).toEqual({ method: 'bitsandbytes', quantType: 'nf4', doubleQuant: true });
  });
  it('refuses fp4, 8-bit, another quant storage and other methods, naming the field', () => {
    expect(() => parseQuantizationConfig({ ...bnbConfig(false), bnb_4bit_quant_type: 'fp4' }, where)).toThrow(
      `x/config.json: quantization_config.bnb_4bit_quant_type is "fp4": only 'nf4' 4-bit bitsandbytes checkpoints are supported`,
    );
    expect(() => parseQuantizationConfig({ quant_method: 'bitsandbytes', load_in_4bit: true }, where)).toThrow(`bnb_4bit_quant_type is "fp4" (transformers' default)`);
    expect(() => parseQuantizationConfig({ ...bnbConfig(false), _load_in_4bit: false, load_in_4bit: false, _load_in_8bit: true, load_in_8bit: true }, where)).toThrow(
      /quantization_config\.load_in_8bit is true: 8-bit bitsandbytes .* not supported; load the original \(unquantized\) weights with --weights q8/,
    );
    expect(() => parseQuantizationConfig({ ...bnbConfig(false), bnb_4bit_quant_storage: 'bfloat16' }, where)).toThrow(`quantization_config.bnb_4bit_quant_storage is "bfloat16"`);
    expect(() => parseQuantizationConfig({ quant_method: 'gptq', bits: 4 }, where)).toThrow(
      `x/config.json: quantization_config.quant_method is "gptq", which is not supported; supported: 'bitsandbytes' with load_in_4bit and bnb_4bit_quant_type 'nf4'`,
    );
  });
});

describe('bnbNf4Words (bitsandbytes NF4 → this engine\'s nf4 words)', () => {
  it("the engine's NF4 table is bitsandbytes'", () => {
    expect(same(NF4_VALUES, BNB_NF4)).toBe(true);
  });

  const parts = (q: BnbQuantized): BnbParts => ({
    packed: q.packed,
    absmax: q.absmax,
    absmaxIsCodes: !!q.nestedAbsmax,
    quantMap: BNB_NF4,
    quantState: JSON.parse(q.state),
    nestedAbsmax: q.nestedAbsmax,
    nestedQuantMap: q.nestedAbsmax && DYNAMIC,
  });
  const where = bnbWhere('mem/model.safetensors', 'w.weight');

  // [37, 7]: 259 elements, an odd count (bitsandbytes' padding nibble) in a short last block;
  // [96, 200]: 300 blocks, two nested blocks of 256 absmax values (the second short).
  for (const shape of [[37, 7], [96, 200], [64, 64]]) {
    it(`[${shape.join(', ')}]: the codes are quantizeNf4's; the absmax is the stored one, or the double-dequantized one`, () => {
      const n = shape[0] * shape[1];
      const w = randomArray(n, n, -0.2, 0.2);
      expect(same(bnbNf4Words(parts(bnbQuantize(w, shape, false)), shape, where), quantizeNf4(w))).toBe(true);
      const dq = bnbQuantize(w, shape, true);
      expect(same(bnbNf4Words(parts(dq), shape, where), doubleQuantWords(w, dq))).toBe(true);
    });
  }

  it('keeps the stored absmax and codes as they are (nothing is re-quantized)', () => {
    // One block whose codes are all 8 (NF4 0.0796) under absmax 3: re-quantizing its values would give absmax 0.239.
    const q: BnbQuantized = { packed: new Uint8Array(32).fill(0x88), absmax: Float32Array.of(3), state: `{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [8, 8]}` };
    const words = bnbNf4Words(parts(q), [8, 8], where);
    expect(new Float32Array(words.buffer, 0, 1)[0]).toBe(3);
    expect([...words.subarray(1)]).toEqual(new Array(8).fill(0x88888888));
  });
});

describe.skipIf(!SHARED_DIR)(`bitsandbytes NF4 checkpoints${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  for (const model of MODELS) {
    it(`${model}, no double quantization: loads as nf4 by default, each projection exactly quantizeNf4 of the original; logits equal the original's under 'nf4'`, async () => {
      const ctx = await gpu();
      const fx = await bnbFixture(model, { doubleQuant: false });
      const { spec } = await loadModelSpec(fx.source);
      expect(spec.quantization).toEqual({ method: 'bitsandbytes', quantType: 'nf4', doubleQuant: false });
      const loaded = await LanguageModel.load(ctx, fx.source);
      const plain = await LanguageModel.load(ctx, fx.original, undefined, { weightStorage: 'nf4' });
      try {
        expect(loaded.weightStorage).toBe('nf4');
        expect(loaded.weights.weights.embed[0].dtype).toBe('f16');
        const projs = projections(loaded);
        expect(projs.length).toBe(7 * spec.L);
        for (const { name, t } of projs) {
          expect(t.dtype, name).toBe('nf4');
          expect(same(await readTensor(ctx, t), quantizeNf4(await originalTensor(fx.original, name))), name).toBe(true);
        }
        // (d) a forward pass: the same logits, bit for bit, as the original quantized on upload.
        const [B, T] = [2, 7];
        const ids = Array.from({ length: B * T }, (_, i) => (i * 37 + 5) % spec.V);
        const [sa, sb] = [loaded.createState(B, T), plain.createState(B, T)];
        const a = await forward(ctx, loaded.weights, sa, ids, T, { allLogits: true });
        const b = await forward(ctx, plain.weights, sb, ids, T, { allLogits: true });
        destroyInferenceState(sa);
        destroyInferenceState(sb);
        expect(a.every(Number.isFinite)).toBe(true);
        expect(same(a, b)).toBe(true);
      } finally {
        loaded.destroy();
        plain.destroy();
      }
    });

    it(`${model}, double quantization: the nf4 words are the original's codes under bitsandbytes' double-dequantized absmax, within NF4's error`, async () => {
      const ctx = await gpu();
      const fx = await bnbFixture(model, { doubleQuant: true });
      const loaded = await LanguageModel.load(ctx, fx.source);
      try {
        expect(loaded.weightStorage).toBe('nf4');
        for (const { name, t } of projections(loaded)) {
          const w = await originalTensor(fx.original, name);
          const q = fx.quantized.get(name)!;
          const got = (await readTensor(ctx, t)) as Uint32Array;
          expect(same(got, doubleQuantWords(w, q)), name).toBe(true);
          // Within NF4's error: |w − NF4[c]·a'| ≤ ½·(the table's largest gap, 0.3038)·a + |a − a'|,
          // a the block's exact absmax and a' the double-dequantized one, which is within one
          // half-step of the dynamic map (under 0.01) times the nested absmax.
          const exact = new Float32Array(quantizeNf4(w).buffer);
          const deq = dequantizeNf4(got, w.length);
          const absmax = new Float32Array(got.buffer);
          const nestedMax = Math.max(...q.nestedAbsmax!);
          let [worstAbsmax, worstValue] = [-Infinity, -Infinity];
          for (let i = 0; i < w.length; i++) {
            const b = Math.floor(i / 64);
            const [a, a2] = [exact[9 * b], absmax[9 * b]];
            worstAbsmax = Math.max(worstAbsmax, Math.abs(a2 - a) - 0.01 * nestedMax);
            worstValue = Math.max(worstValue, Math.abs(deq[i] - w[i]) - (0.152 * a + Math.abs(a2 - a) + 1e-6));
          }
          expect(worstAbsmax, name).toBeLessThanOrEqual(0);
          expect(worstValue, name).toBeLessThanOrEqual(0);
        }
        // (d) it runs.
        const ids = [1, 17, 33, 49, 65, 81];
        const state = loaded.createState(1, ids.length);
        const logits = await forward(ctx, loaded.weights, state, ids, ids.length);
        destroyInferenceState(state);
        expect(logits.length).toBe(loaded.spec.V);
        expect(logits.every(Number.isFinite)).toBe(true);
      } finally {
        loaded.destroy();
      }
    });
  }

  it("weightStorage 'f32' (and loadWeights on the CPU) gives the dequantized floats: NF4[code] · absmax", async () => {
    const ctx = await gpu();
    for (const doubleQuant of [false, true]) {
      const fx = await bnbFixture('stories260K', { doubleQuant });
      const loaded = await LanguageModel.load(ctx, fx.source, undefined, { weightStorage: 'f32' });
      const { spec } = await loadModelSpec(fx.source);
      const cpu = await loadWeights(fx.source, spec);
      try {
        expect(loaded.weightStorage).toBe('f32');
        for (const { name, layer, field, t } of projections(loaded)) {
          const w = await originalTensor(fx.original, name);
          const words = doubleQuant ? doubleQuantWords(w, fx.quantized.get(name)!) : quantizeNf4(w);
          const want = dequantizeNf4(words, w.length);
          expect(t.dtype, name).toBe('f32');
          expect(same(await readTensor(ctx, t), want), `${name} (double quant ${doubleQuant})`).toBe(true);
          const onCpu = (cpu.layers[layer] as unknown as Record<string, { data: Float32Array }>)[field];
          expect(same(onCpu.data, want), `CPU ${name}`).toBe(true);
        }
      } finally {
        loaded.destroy();
      }
    }
  });

  describe('clear errors', () => {
    const q0 = 'model.layers.0.self_attn.q_proj.weight';
    const load = async (opts: FixtureOptions) => {
      const fx = await bnbFixture('stories260K', opts);
      return LanguageModel.load(await gpu(), fx.source);
    };
    it('fp4 and 8-bit configs', async () => {
      await expect(load({ doubleQuant: false, quantizationConfig: { ...bnbConfig(false), bnb_4bit_quant_type: 'fp4' } })).rejects.toThrow(
        `bnb-stories260K/config.json: quantization_config.bnb_4bit_quant_type is "fp4": only 'nf4'`,
      );
      await expect(load({ doubleQuant: false, quantizationConfig: { ...bnbConfig(false), load_in_4bit: false, _load_in_4bit: false, load_in_8bit: true, _load_in_8bit: true } })).rejects.toThrow(
        'bnb-stories260K/config.json: quantization_config.load_in_8bit is true: 8-bit bitsandbytes',
      );
    });
    it('a gpt2 (Conv1D) checkpoint', async () => {
      const config = JSON.parse(readFileSync(join(SHARED_DIR!, 'models', 'tiny-random-gpt2', 'config.json'), 'utf8'));
      const source = memorySource({ 'config.json': new TextEncoder().encode(JSON.stringify({ ...config, quantization_config: bnbConfig(false) })) }, 'bnb-gpt2');
      await expect(loadModelSpec(source)).rejects.toThrow('bnb-gpt2/config.json: quantization_config: bitsandbytes checkpoints of gpt2 (Conv1D weights) are not supported');
    });
    it('an fp4 quant_state tensor', async () => {
      const edit = (ts: RawTensor[]) => ts.map((t) => (t.name === `${q0}.quant_state.bitsandbytes__nf4` ? { ...t, name: `${q0}.quant_state.bitsandbytes__fp4` } : t));
      await expect(load({ doubleQuant: false, edit })).rejects.toThrow(`bnb-stories260K/model.safetensors: tensor '${q0}' is bitsandbytes fp4`);
    });
    it('blocksize 128', async () => {
      await expect(load({ doubleQuant: false, blocksize: 128 })).rejects.toThrow(
        `bnb-stories260K/model.safetensors: tensor '${q0}.quant_state.bitsandbytes__nf4': blocksize is 128: only blocksize 64`,
      );
    });
    it('a missing absmax tensor (and a missing nested one)', async () => {
      const drop = (name: string) => (ts: RawTensor[]) => ts.filter((t) => t.name !== name);
      await expect(load({ doubleQuant: false, edit: drop(`${q0}.absmax`) })).rejects.toThrow(
        `bnb-stories260K/model.safetensors: tensor '${q0}': its bitsandbytes tensor '${q0}.absmax' is missing`,
      );
      await expect(load({ doubleQuant: true, edit: drop(`${q0}.nested_absmax`) })).rejects.toThrow(`tensor '${q0}': its bitsandbytes tensor '${q0}.nested_absmax' is missing`);
    });
    it('a quant_map that is not the NF4 table', async () => {
      const other = Float32Array.from(BNB_NF4, (v, i) => (i === 3 ? v + 0.001 : v));
      const edit = (ts: RawTensor[]) => ts.map((t) => (t.name === `${q0}.quant_map` ? { ...t, bytes: f32Bytes(other) } : t));
      await expect(load({ doubleQuant: false, edit })).rejects.toThrow(`bnb-stories260K/model.safetensors: tensor '${q0}.quant_map': 16 values`);
      await expect(load({ doubleQuant: false, edit })).rejects.toThrow("are not bitsandbytes' NF4 table");
    });
  });
});
