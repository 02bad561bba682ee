// The CPU side of the quantized weight formats (src/gpu/quant/): quantizeNf4 / quantizeQ8 and
// their dequantizers against the rules (test/ref/quant.ts, naive loops) at awkward inputs (exact
// ties, all-zero blocks, a last short NF4 block, negative zero, q8 half steps, w·id overflowing
// int8, f16-subnormal scales), the packed words themselves where the layout fixes them, the
// refusals, and then against ../shared/golden-quant: every quantized weight of its three cases,
// quantized and dequantized here from the base model's weights, must equal the case's
// `dequantized.<name>` tensor bit for bit (q8: up to the sign of a zero; see test/ref/quant.ts).
// The quantizers are fast paths of the rules (NF4: a bucket table and one threshold comparison;
// Q8_0: rounding without a branch on the sign), so their words are checked against words packed
// from the references' codes, at every NF4 threshold, bucket edge and tiny |x| with their f32
// neighbours, at Q8_0's exact and near halves, and on a million N(0, 0.02²) weights.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { f16Bits } from '../../src/gpu/f16.js';
import { quantWords } from '../../src/gpu/quant/layout.js';
import { dequantizeNf4, NF4_VALUES, nf4Code, quantizeNf4 } from '../../src/gpu/quant/nf4.js';
import { dequantizeQ8, quantizeQ8 } from '../../src/gpu/quant/q8.js';
import { readSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.js';
import { memorySource } from '../../src/model/source.js';
import { NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';
import { nf4CodeRef, nf4Ref, q8CodesRef, q8Ref } from '../ref/quant.js';

const f = Math.fround;
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const nf4RoundTrip = (w: Float32Array) => dequantizeNf4(quantizeNf4(w), w.length);
const q8RoundTrip = (w: Float32Array, row: number) => dequantizeQ8(quantizeQ8(w, row), w.length);

/** The indices where a and b differ as numbers (a zero's sign ignored, NaN equal to NaN). */
function differences(a: Float32Array, b: Float32Array): number[] {
  expect(a.length).toBe(b.length);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (!(a[i] === b[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) out.push(i);
  return out;
}

/** The f32 `steps` ulps from x (negative steps: towards −∞), through the ordered bit patterns. */
function ulpsFrom(x: number, steps: number): number {
  const u = new Uint32Array(1);
  const v = new Float32Array(u.buffer);
  v[0] = x;
  const ordered = u[0] & 0x80000000 ? -(u[0] & 0x7fffffff) : u[0]; // −0 and +0 both 0
  const to = ordered + steps;
  u[0] = to < 0 ? (0x80000000 | -to) >>> 0 : to;
  return v[0];
}

/** Weights drawn N(0, 0.02²) (Box–Muller over randomArray's uniforms), as a model's. */
function normalWeights(n: number, seed: number): Float32Array {
  const u = randomArray(2 * n, seed, 0, 1);
  return Float32Array.from({ length: n }, (_, i) => 0.02 * Math.sqrt(-2 * Math.log(1 - u[2 * i])) * Math.cos(2 * Math.PI * u[2 * i + 1]));
}

/** NF4 words packed from the reference's codes (nf4CodeRef, the 16-value scan), the header's layout. */
function nf4WordsRef(w: Float32Array): Uint32Array {
  const blocks = Math.ceil(w.length / 64);
  const out = new Uint32Array(9 * blocks);
  const absmax = new Float32Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const block = w.subarray(64 * b, Math.min(w.length, 64 * b + 64));
    const m = block.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    absmax[9 * b] = m;
    block.forEach((v, e) => (out[9 * b + 1 + (e >> 3)] |= nf4CodeRef(m > 0 ? f(v / m) : 0) << (4 * (e & 7))));
  }
  return out;
}

/** Q8_0 words packed from the reference's codes and scales (q8CodesRef; its NaN and −0 stored as 0). */
function q8WordsRef(w: Float32Array, row: number): Uint32Array {
  const { q, scale } = q8CodesRef(w, row);
  const out = new Uint32Array((w.length / 32) * 9);
  for (let b = 0; b < w.length / 32; b++) {
    out[9 * b] = f16Bits(scale[b]);
    for (let e = 0; e < 32; e++) out[9 * b + 1 + (e >> 2)] |= ((Number.isNaN(q[32 * b + e]) ? 0 : q[32 * b + e]) & 0xff) << (8 * (e & 3));
  }
  return out;
}

/** The first word where a and b differ, as "word i: a vs b" (undefined when equal). */
function firstDifference(a: Uint32Array, b: Uint32Array): string | undefined {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  const i = a.findIndex((v, j) => v !== b[j]);
  return i < 0 ? undefined : `word ${i}: ${a[i].toString(16)} vs ${b[i].toString(16)}`;
}

/** Weights of many magnitudes: uniform, then blocks scaled from 1e-6 to 1e3, with outliers. */
function awkwardWeights(n: number, seed: number): Float32Array {
  const w = randomArray(n, seed, -1, 1);
  for (let i = 0; i < n; i++) w[i] *= 10 ** (((Math.floor(i / 32) * 7) % 10) - 6);
  for (let i = 0; i < n; i += 37) w[i] *= 40;
  return w;
}

describe('nf4 on the CPU', () => {
  it('finds the nearest NF4 value as the 16-value scan does, the lower index on exact ties', () => {
    const xs = [...randomArray(20000, 5, -1, 1), -1, 1, 0, -0];
    // Every f32 within 3 ulps of each midpoint between neighbouring values: the ties are among them.
    const ties: Array<[number, number]> = []; // [x, the lower code]
    for (let k = 0; k < 15; k++) {
      const mid = f((NF4_VALUES[k] + NF4_VALUES[k + 1]) / 2);
      for (let u = -3; u <= 3; u++) {
        const x = f(mid + u * 2 ** (Math.floor(Math.log2(Math.abs(mid))) - 23));
        xs.push(x);
        if (Math.abs(f(x - NF4_VALUES[k])) !== Math.abs(f(x - NF4_VALUES[k + 1]))) continue;
        ties.push([x, k]);
        expect(nf4Code(x), `the tie at ${x}`).toBe(k);
        expect(nf4Code(f(x + 2 ** -24)), `just above the tie at ${x}`).toBe(k + 1);
      }
    }
    expect(ties.length, 'exact f32 ties exist between some neighbours').toBeGreaterThan(3);
    // Through the quantizer, in a block whose absmax is 1 (so x = w): each tie dequantizes to the lower value.
    for (const [x, k] of ties) expect(nf4RoundTrip(Float32Array.of(1, x))[1], `the tie at ${x}`).toBe(NF4_VALUES[k]);
    for (const x of xs) expect(nf4Code(x), `x = ${x}`).toBe(nf4CodeRef(x));
  });

  it('packs 9 words per block of 64: absmax bits, then 8 codes a word, a last short block padded with 0', () => {
    const w = new Float32Array(64 + 5);
    w.set([2, -2, 1, -1, 0, -0], 0); // block 0: absmax 2 → x = 1, −1, 0.5, −0.5, 0, −0
    w.set([0.5, -0.25, 0, 0.125, -0.5], 64); // block 1, 5 long: absmax 0.5
    const words = quantizeNf4(w);
    expect(words.length).toBe(18);
    expect(words.length).toBe(quantWords('nf4', w.length));
    expect(words[0]).toBe(0x40000000); // 2.0f
    const c = (x: number) => nf4Code(x);
    expect(words[1]).toBe((c(1) | (c(-1) << 4) | (c(0.5) << 8) | (c(-0.5) << 12) | (7 << 16) | (7 << 20) | (7 << 24) | (7 << 28)) >>> 0);
    expect(Array.from(words.subarray(2, 9))).toEqual(new Array(7).fill(0x77777777)); // zeros: code 7
    expect(words[9]).toBe(0x3f000000); // 0.5f
    expect(words[10]).toBe(c(1) | (c(-0.5) << 4) | (7 << 8) | (c(0.25) << 12) | (c(-1) << 16)); // past the end: 0
    expect(Array.from(words.subarray(11))).toEqual(new Array(7).fill(0));
    expect(bitsOf(dequantizeNf4(words, w.length))).toEqual(bitsOf(nf4Ref(w)));
  });

  it('gives an all-zero block (and negative zeros) +0, and reproduces the rule at many magnitudes and lengths', () => {
    const zeros = Float32Array.from({ length: 70 }, (_, i) => (i % 2 ? -0 : 0));
    const q = quantizeNf4(zeros);
    expect(q[0]).toBe(0); // absmax 0
    expect(bitsOf(nf4RoundTrip(zeros))).toEqual(new Array(70).fill(0));
    for (const n of [1, 63, 64, 65, 127, 128, 1000, 4099]) {
      const w = awkwardWeights(n, 3 + n);
      expect(bitsOf(nf4RoundTrip(w)), `n = ${n}`).toEqual(bitsOf(nf4Ref(w)));
    }
    expect(quantizeNf4(new Float32Array(0)).length).toBe(0);
  });

  it('refuses values that are not finite', () => {
    expect(() => quantizeNf4(Float32Array.of(1, NaN))).toThrow('quantizeNf4: value 1 is NaN; only finite values can be quantized');
    expect(() => quantizeNf4(Float32Array.of(-Infinity))).toThrow('quantizeNf4: value 0 is -Infinity');
    // The first one of its block, in a later block, whatever follows it.
    const w = new Float32Array(200);
    w[130] = Infinity;
    w[140] = NaN;
    expect(() => quantizeNf4(w)).toThrow('quantizeNf4: value 130 is Infinity');
  });

  it("gives the scan's code at every threshold, bucket edge and tiny |x|, and at their f32 neighbours", () => {
    const xs: number[] = [-1, 1, 0, -0];
    // The thresholds, found from the reference alone: the f32 where its code steps from k to k + 1.
    const thresholds: number[] = [];
    for (let k = 0; k < 15; k++) {
      let m = f((NF4_VALUES[k] + NF4_VALUES[k + 1]) / 2);
      while (nf4CodeRef(m) > k) m = ulpsFrom(m, -1);
      while (nf4CodeRef(m) <= k) m = ulpsFrom(m, 1);
      thresholds.push(m);
    }
    expect(thresholds.map(nf4CodeRef)).toEqual(Array.from({ length: 15 }, (_, k) => k + 1));
    // The quantizer's table buckets are 2⁻¹¹ wide: every edge b/2048 − 1; and |x| so small that x + 1 rounds.
    const edges = Array.from({ length: 4097 }, (_, b) => b / 2048 - 1);
    const tiny = [2 ** -29, 2 ** -30, 2 ** -31, 2 ** -60, 2 ** -126, 2 ** -149].flatMap((t) => [t, -t]);
    for (const x of [...thresholds, ...edges, ...tiny, ...NF4_VALUES]) {
      for (let u = -3; u <= 3; u++) {
        const y = ulpsFrom(x, u);
        if (Math.abs(y) <= 1) xs.push(y);
      }
    }
    const wrong = xs.filter((x) => nf4Code(x) !== nf4CodeRef(x));
    expect(wrong, 'x where nf4Code differs from the 16-value scan').toEqual([]);
    expect(xs.length).toBeGreaterThan(7 * 4097);
    // Through the quantizer: blocks whose absmax is 1 hold these x as they are.
    const w = new Float32Array(64 * Math.ceil(xs.length / 63));
    xs.forEach((x, i) => (w[64 * Math.floor(i / 63) + 1 + (i % 63)] = x));
    for (let b = 0; b < w.length; b += 64) w[b] = 1;
    expect(firstDifference(quantizeNf4(w), nf4WordsRef(w))).toBeUndefined();
  });

  it("packs the words of the reference's codes for a million N(0, 0.02²) weights and at awkward magnitudes", () => {
    const w = normalWeights(1 << 20, 17);
    expect(firstDifference(quantizeNf4(w), nf4WordsRef(w))).toBeUndefined();
    for (const n of [1, 7, 63, 65, 1000, 4099]) {
      const a = awkwardWeights(n, 40 + n);
      expect(firstDifference(quantizeNf4(a), nf4WordsRef(a)), `n = ${n}`).toBeUndefined();
    }
  });
});

describe('q8 on the CPU', () => {
  it('rounds half steps away from zero (a block with d = 1 and one with d = 1/8)', () => {
    const w = new Float32Array(64);
    w.set([127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 0.49999997, 3.4999998]); // d = 127/127 = 1, id = 1
    w.set([127 / 8, 2.5 / 8, -2.5 / 8, 0.5 / 8, -126.5 / 8], 32); // d = 1/8, id = 8
    const { q } = q8CodesRef(w, 32);
    expect(Array.from(q.subarray(0, 11))).toEqual([127, 3, -3, 1, -1, 2, -2, 127, -127, 0, 3]);
    expect(Array.from(q.subarray(32, 37))).toEqual([127, 3, -3, 1, -127]);
    const words = quantizeQ8(w, 32);
    expect(words.length).toBe(18);
    expect(words[0]).toBe(0x3c00); // f16(1)
    expect(words[1]).toBe((127 | (3 << 8) | (0xfd << 16) | (1 << 24)) >>> 0); // 127, 3, −3, 1
    expect(words[9]).toBe(0x3000); // f16(1/8)
    const got = dequantizeQ8(words, 64);
    expect(Array.from(got.subarray(0, 11))).toEqual([127, 3, -3, 1, -1, 2, -2, 127, -127, 0, 3]);
    expect(Array.from(got.subarray(32, 37))).toEqual([127 / 8, 3 / 8, -3 / 8, 1 / 8, -127 / 8]);
  });

  it('stores zeros, negative zeros and values that round to 0 as q = 0 (+0), an all-zero block with scale 0', () => {
    const w = new Float32Array(64);
    w.set([1, -0, -0.001, 0.001], 0);
    w.set([-0, 0, -0], 32); // all zero: d = 0, id = 0
    const words = quantizeQ8(w, 64);
    expect(words[9]).toBe(0);
    expect(Array.from(words.subarray(10))).toEqual(new Array(8).fill(0));
    const got = dequantizeQ8(words, 64);
    expect(bitsOf(got.subarray(1, 4))).toEqual([0, 0, 0]); // +0 (numpy's q keeps −0 for −0 and −0.001)
    expect(bitsOf(got.subarray(32))).toEqual(new Array(32).fill(0));
    expect(differences(got, q8Ref(w, 64))).toEqual([]);
  });

  it('clips w·id past int8 where id overflows to infinity (and gives a zero w q = 0), f16(d) being 0 there', () => {
    const w = new Float32Array(32);
    w.set([1e-37, -1e-37, 3e-38, 0, -2e-38]); // d = 1e-37 / 127 is subnormal, 1 / d overflows
    const d = f(f(1e-37) / 127);
    expect(f(1 / d)).toBe(Infinity);
    const words = quantizeQ8(w, 32);
    expect(words[0]).toBe(0); // f16(d) = 0
    expect(words[1]).toBe((127 | (0x80 << 8) | (127 << 16) | (0 << 24)) >>> 0); // 127, −128, 127, 0
    expect(words[2] & 0xff).toBe(0x80); // −2e-38 · ∞ → −128
    const ref = q8CodesRef(w, 32).q;
    expect([ref[0], ref[1], ref[2], ref[4]]).toEqual([127, -128, 127, -128]);
    expect(Number.isNaN(ref[3])).toBe(true); // 0 · ∞ (the rule's NaN; stored as 0)
    expect(Array.from(dequantizeQ8(words, 32)).every((v) => v === 0)).toBe(true);
  });

  it('keeps f16-subnormal scales exact and reproduces the rule at many magnitudes and row lengths', () => {
    const small = randomArray(32, 9, -0.005, 0.005); // d ≈ 4e-5, below f16's smallest normal 6.1e-5
    const words = quantizeQ8(small, 32);
    expect(words[0] & 0x7c00).toBe(0); // a subnormal half
    expect(words[0]).toBe(f16Bits(f(Math.max(...Array.from(small, Math.abs)) / 127)));
    expect(differences(dequantizeQ8(words, 32), q8Ref(small, 32))).toEqual([]);
    for (const [rows, row] of [[1, 32], [3, 64], [5, 96], [17, 256]]) {
      const w = awkwardWeights(rows * row, rows + row);
      expect(differences(q8RoundTrip(w, row), q8Ref(w, row)), `${rows} × ${row}`).toEqual([]);
    }
  });

  it("packs the words of the reference's codes at exact and near halves, clipped blocks and a million N(0, 0.02²) weights", () => {
    // Blocks with d = 1 (absmax 127), 1/8 and 3 (not a power of two): every half step k + 0.5 in
    // [−127.5, 126.5] · d, with its f32 neighbours, negative and positive.
    const halves: number[] = [];
    for (const d of [1, 1 / 8, 3]) {
      const values: number[] = [-127 * d];
      for (let k = -127; k <= 126; k++) for (const u of [-1, 0, 1]) values.push(ulpsFrom(f((k + 0.5) * d), u));
      // Blocks of 32: 127·d first (the absmax, so d is the block's scale), then 31 of the values.
      for (let i = 0; i < values.length; i += 31) halves.push(127 * d, ...values.slice(i, i + 31), ...new Array(Math.max(0, i + 31 - values.length)).fill(0));
    }
    expect(halves.length % 32).toBe(0);
    const tiny = [1e-37, -1e-37, 3e-38, 0, -2e-38, -0, 1e-45, -1e-45]; // id = ∞: clipped to int8, 0 · ∞ → 0
    const cases: Array<[string, Float32Array, number]> = [
      ['halves', Float32Array.from(halves), 32],
      ['id = ∞', Float32Array.from({ length: 64 }, (_, i) => tiny[i % tiny.length]), 64],
      ['subnormal d', randomArray(256, 11, -0.005, 0.005), 128],
      ['awkward magnitudes', awkwardWeights(96 * 64, 5), 96],
      ['a million N(0, 0.02²)', normalWeights(1 << 20, 23), 2048],
    ];
    for (const [what, w, row] of cases) expect(firstDifference(quantizeQ8(w, row), q8WordsRef(w, row)), what).toBeUndefined();
  });

  it('refuses rows that are not a multiple of 32, values that are not whole rows, and unrepresentable scales', () => {
    for (const row of [33, 16, 0, -32, 1.5]) {
      expect(() => quantizeQ8(new Float32Array(96), row)).toThrow(`quantizeQ8: rows of ${row} values are not a multiple of 32 long`);
    }
    expect(() => quantizeQ8(new Float32Array(96), 64)).toThrow('quantizeQ8: 96 values are not whole rows of 64');
    expect(() => quantizeQ8(Float32Array.from({ length: 32 }, () => 1e7), 32)).toThrow(/quantizeQ8: block 0 has \|w\| up to 10000000, whose scale .* overflows f16/);
    expect(() => quantizeQ8(Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? Infinity : 0)), 32)).toThrow('quantizeQ8: value 5 is Infinity');
    expect(() => quantizeQ8(Float32Array.from({ length: 96 }, (_, i) => (i === 40 ? NaN : i === 50 ? -Infinity : 1)), 32)).toThrow('quantizeQ8: value 40 is NaN');
    expect(() => quantWords('q8', 48)).toThrow('q8: 48 elements are not whole Q8_0 blocks of 32');
  });
});

interface QuantCase {
  model: string;
  quantization: { method: 'nf4' | 'q8'; block_size: number; quantized: string[]; left_unquantized: string[] };
}

const CASES = ['stories260K-nf4-all-linear', 'qwen3-q8-all-linear', 'gpt2-nf4-attn'];
const source = (dir: string, file: string) => memorySource({ [file]: readFileSync(join(dir, file)) }, dir);

describe.skipIf(!SHARED_DIR)(`../shared/golden-quant${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  for (const name of CASES) {
    it(`${name}: every quantized weight, quantized and dequantized here, equals dequantized.<name>`, async () => {
      const dir = join(SHARED_DIR!, 'golden-quant', name);
      const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as QuantCase;
      const model = source(join(SHARED_DIR!, 'models', c.model), 'model.safetensors');
      const expected = source(dir, 'expected.safetensors');
      const [modelHeader, expectedHeader] = [await readSafetensorsHeader(model, 'model.safetensors'), await readSafetensorsHeader(expected, 'expected.safetensors')];
      const { method, quantized, left_unquantized: kept } = c.quantization;
      expect(c.quantization.block_size).toBe(method === 'nf4' ? 64 : 32);
      expect(quantized.length).toBeGreaterThan(0);
      let signedZeros = 0;
      for (const weight of quantized) {
        const info = modelHeader.tensors.get(weight)!;
        expect(info, weight).toBeDefined();
        // GPT-2's Conv1D weights are stored [in, out] and quantized as the [out, in] matrix.
        const conv1d = name.startsWith('gpt2') && /\.c_\w+\.weight$/.test(weight);
        const [rows, cols] = conv1d ? [info.shape[1], info.shape[0]] : [info.shape[0], info.shape[1]];
        const stored = await readTensorF32(model, modelHeader, weight);
        const w = conv1d ? transpose(stored, cols, rows) : stored;
        const dq = method === 'nf4' ? nf4RoundTrip(w) : q8RoundTrip(w, cols);
        const got = conv1d ? transpose(dq, rows, cols) : dq;
        const want = await readTensorF32(expected, expectedHeader, `dequantized.${weight}`);
        expect(differences(got, want), weight).toEqual([]);
        if (method === 'nf4') expect(bitsOf(got), weight).toEqual(bitsOf(want));
        else signedZeros += got.filter((v, i) => Object.is(v, 0) !== Object.is(want[i], 0)).length;
      }
      if (method === 'q8') console.log(`${name}: bit for bit but for ${signedZeros} zeros that numpy signs −0 (int8 has no −0)`);
      for (const weight of kept) {
        const info = modelHeader.tensors.get(weight)!;
        expect(() => quantizeQ8(new Float32Array(info.shape[0] * info.shape[1]), info.shape[1]), weight).toThrow('not a multiple of 32');
      }
    });
  }
});

/** The [cols, rows] transpose of a row-major [rows, cols] matrix. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}
