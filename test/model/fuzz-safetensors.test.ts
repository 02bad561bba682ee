// A seeded fuzz test of the safetensors reader and the weight loader on untrusted files: a small
// deterministic PRNG mutates three valid files (one a bitsandbytes NF4 checkpoint) (byte flips, truncations, header length edits, edits
// of the JSON header's fields, random JSON in their place, duplicate names, spliced bytes) and
// every outcome must be either a header (and weights) that is consistent with the file, or an
// Error of the project's types (SafetensorsError, WeightsError, BnbError) naming the file: never
// a TypeError or RangeError, never a read outside the file, never a case that takes long.
import { describe, expect, it } from 'vitest';
import { BnbError } from '../../src/model/bnb.js';
import { KNOWN_DTYPES, readSafetensorsHeader, readTensorF32, SafetensorsError, writeSafetensors, type SafetensorsHeader } from '../../src/model/safetensors.js';
import { memorySource, type ModelSource } from '../../src/model/source.js';
import { loadWeights, WeightsError, type ModelWeights } from '../../src/model/weights.js';
import { assemble, headerLength, prng, TINY_SPEC, tinyBnbModel, tinyModel, type Rng } from './fuzz-files.js';

const CASES = 3000;
const SEED = 0x5afe7e45;
/** The longest any one case may take (each is a file of about 1.5 KB in memory). */
const CASE_MS = 1000; // far above the slowest case measured (30 to 90 ms on a loaded 2-core machine), far below a hang

/** The valid files the mutations start from: the tiny model (F32, F16, BF16), one with I32 and empty tensors, the bnb one. */
const BASES = [
  writeSafetensors(tinyModel(), { format: 'pt' }),
  tinyBnbModel(),
  writeSafetensors([
    { name: 'ids', dtype: 'I32', shape: [3], data: new Int32Array([1, -2, 3]) },
    { name: 'empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
    { name: 'x', dtype: 'F32', shape: [2], data: new Float32Array([0.5, -1]) },
  ]),
];

const NUMBERS = [0, -1, 1, 2, 3, 4, 0.5, -0, 7, 8, 255, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e308, -1e308, 1e-300];

/** A random JSON value of bounded size. */
function randomJson(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 4 : 6)) {
    case 0: return r.pick(NUMBERS);
    case 1: return r.pick(['', 'F32', 'I32', 'U8', 'BOOL', 'F8_E4M3', 'toString', '__proto__', 'x'.repeat(r.int(40)), '\u0000', 'é']);
    case 2: return r.next() < 0.5;
    case 3: return null;
    case 4: return Array.from({ length: r.int(5) }, () => randomJson(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['dtype', 'shape', 'data_offsets', 'a', '__proto__', '']), randomJson(r, depth + 1)]));
  }
}

/** An edit of one field of the JSON header (or of the whole header), re-serialized. */
function editHeader(r: Rng, base: Uint8Array): Uint8Array {
  const n = headerLength(base);
  const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + n))) as Record<string, Record<string, unknown>>;
  let data = base.subarray(8 + n);
  // Only entries that are objects with two offsets are edited (a second round may meet others).
  const names = Object.keys(header).filter((k) => k !== '__metadata__' && Array.isArray(header[k]?.data_offsets));
  if (names.length === 0) return base.slice();
  const name = r.pick(names);
  const entry = header[name];
  const [b, e] = entry.data_offsets as number[];
  let text: string | null = null;
  switch (r.int(9)) {
    case 0: entry[r.pick(['dtype', 'shape', 'data_offsets'])] = randomJson(r); break;
    case 1: entry.dtype = r.pick([...KNOWN_DTYPES, 'F8_E4M3', 'I16', 'U64', 'toString', 'constructor', 'f32', '']); break;
    case 2: entry.shape = Array.from({ length: r.int(4) }, () => r.pick([0, 1, 2, 3, 4, 6, 8, -1, 1.5, 2 ** 26, 2 ** 53, 2 ** 60])); break;
    case 3: entry.data_offsets = r.pick([[e, b], [b + r.int(9) - 4, e], [b, e + r.int(9) - 4], [b - 4, e - 4], [0, e], [b, 2 ** 53], [b], [b, e, e]]); break;
    case 4: delete entry[r.pick(['dtype', 'shape', 'data_offsets'])]; break;
    case 5: (header as Record<string, unknown>).__metadata__ = r.next() < 0.5 ? randomJson(r) : { format: randomJson(r) }; break;
    case 6: {
      // A name repeated (the second entry as the first), or a tensor renamed.
      const json = JSON.stringify(header);
      text = r.next() < 0.5 ? `${json.slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(entry)}}` : json.replace(JSON.stringify(name), JSON.stringify(r.pick(['__proto__', 'constructor', '', name + name, 'model.norm.weight'])));
      break;
    }
    case 7: text = JSON.stringify(randomJson(r)); break;
    default: data = r.next() < 0.5 ? data.subarray(0, r.int(data.length + 1)) : new Uint8Array([...data, ...Array.from({ length: 1 + r.int(16) }, () => r.int(256))]);
  }
  return assemble(text ?? JSON.stringify(header), data);
}

/** One mutation of a valid file. */
function mutate(r: Rng, base: Uint8Array): Uint8Array {
  const n = headerLength(base);
  const out = base.slice();
  switch (r.int(6)) {
    case 0: {
      // Byte flips, mostly in the length field and the header.
      for (let k = 1 + r.int(4); k > 0; k--) out[r.next() < 0.8 ? r.int(8 + n) : r.int(out.length)] ^= 1 + r.int(255);
      return out;
    }
    case 1: return out.subarray(0, r.int(out.length));
    case 2: {
      const v = r.pick([0n, 1n, 2n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 8), BigInt(r.int(out.length)), 2n ** 32n, 2n ** 40n, 2n ** 53n + 1n, 2n ** 64n - 1n]);
      new DataView(out.buffer).setBigUint64(0, v, true);
      return out;
    }
    case 3: {
      // Random bytes spliced in at a random place.
      const at = r.int(out.length);
      const extra = Uint8Array.from({ length: 1 + r.int(8) }, () => r.pick([0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x5c, 0x30, 0x20, r.int(256)]));
      return new Uint8Array([...out.subarray(0, at), ...extra, ...out.subarray(at)]);
    }
    default: return editHeader(r, base);
  }
}

/** `source` recording any read outside the file or of a range that is not two ordered integers. */
function tracked(source: ModelSource, problems: string[]): ModelSource {
  return {
    ...source,
    async read(file, start = 0, end?: number) {
      const size = await source.size(file);
      const stop = end ?? size;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(stop) || start < 0 || stop < start || stop > size) problems.push(`read(${file}, ${start}, ${end}) of a ${size}-byte file`);
      return source.read(file, start, end);
    },
  };
}

const BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I8: 1, U8: 1, BOOL: 1 } as const;

/** Throws unless the parsed header is consistent with a file of `size` bytes. */
function expectConsistent(h: SafetensorsHeader, size: number): void {
  expect(h.dataStart).toBeGreaterThanOrEqual(8);
  expect(h.dataStart).toBeLessThanOrEqual(size);
  for (const v of Object.values(h.metadata)) expect(typeof v).toBe('string');
  const spans: Array<[number, number]> = [];
  for (const [name, t] of h.tensors) {
    expect(t.name).toBe(name);
    expect(KNOWN_DTYPES).toContain(t.dtype);
    expect(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)).toBe(true);
    expect(0 <= t.begin && t.begin <= t.end && t.end <= size - h.dataStart).toBe(true);
    expect(t.end - t.begin).toBe(t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype]);
    if (t.end > t.begin) spans.push([t.begin, t.end]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
}

function expectFiniteWeights(w: ModelWeights): void {
  const all = [w.embed, w.finalNorm, ...w.layers.flatMap((l) => Object.values(l))];
  for (const t of all) expect(t.data.every(Number.isFinite)).toBe(true);
}

describe('fuzzing the safetensors reader and the weight loader', () => {
  it(`fuzzes ${CASES} mutated safetensors files (seed ${SEED.toString(16)}): each a consistent result or a named project error`, async () => {
    const r = prng(SEED);
    const problems: string[] = [];
    const outcomes = { header: 0, weights: 0, SafetensorsError: 0, WeightsError: 0, BnbError: 0 };
    let slowest = 0;
    const expectProjectError = (e: unknown, i: number) => {
      const ok = e instanceof SafetensorsError || e instanceof WeightsError || e instanceof BnbError;
      if (!ok || !(e as Error).message.includes('mem/model.safetensors')) {
        problems.push(`case ${i}: ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : String(e)}`);
      } else outcomes[(e as Error).name as 'SafetensorsError']++;
    };
    for (let i = 0; i < CASES; i++) {
      const base = BASES[[0, 0, 1, 2][i % 4]];
      let bytes = mutate(r, base);
      if (r.next() < 0.25 && isJsonHeader(bytes)) bytes = mutate(r, bytes); // a second mutation of a file still readable as one
      const source = tracked(memorySource({ 'model.safetensors': bytes }, 'mem'), problems);
      const t0 = performance.now();
      try {
        const h = await readSafetensorsHeader(source, 'model.safetensors');
        expectConsistent(h, bytes.length);
        for (const [name, t] of h.tensors) expect((await readTensorF32(source, h, name)).length).toBe(t.shape.reduce((a, b) => a * b, 1));
        outcomes.header++;
      } catch (e) {
        if ((e as Error)?.name === 'AssertionError') throw e;
        expectProjectError(e, i);
      }
      try {
        expectFiniteWeights(await loadWeights(source, TINY_SPEC));
        outcomes.weights++;
      } catch (e) {
        if ((e as Error)?.name === 'AssertionError') throw e;
        expectProjectError(e, i);
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (ms > CASE_MS) problems.push(`case ${i} took ${ms.toFixed(0)} ms`);
    }
    console.log(`fuzz-safetensors: ${CASES} files; headers read ${outcomes.header}, models loaded ${outcomes.weights}; errors: ${outcomes.SafetensorsError} SafetensorsError, ${outcomes.WeightsError} WeightsError, ${outcomes.BnbError} BnbError; slowest case ${slowest.toFixed(1)} ms`);
    expect(problems.slice(0, 10)).toEqual([]);
    // The mutations must reach both outcomes often, or the fuzzing would test little.
    expect(outcomes.header).toBeGreaterThan(CASES / 20);
    expect(outcomes.SafetensorsError).toBeGreaterThan(CASES / 4);
  }, 60_000);
});

function isJsonHeader(bytes: Uint8Array): boolean {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength(bytes))));
    return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).some((e) => typeof e === 'object' && e !== null && Array.isArray((e as { data_offsets?: unknown }).data_offsets));
  } catch {
    return false;
  }
}
