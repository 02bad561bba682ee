// A seeded fuzz test of unzipFiles on untrusted archives: a small deterministic PRNG makes
// archives from valid ones (bytes flipped, cut, spliced; header fields set to edge values) and
// crafts hostile ones (zip bombs that declare gigabytes or inflate past what they declare, entries
// that overlap, names that climb out of the folder or are absolute, backslashed, duplicated or not
// UTF-8, unsupported methods, encryption, corrupt directories and offsets). Every outcome must be either files with
// safe, distinct names and at most the bytes the archive could hold, or an Error naming the
// archive (and, where one is at fault, the entry): never a TypeError or RangeError, never a case
// that takes long or allocates what the archive merely declares.
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, unzipFiles, zipFiles, type UnzipOptions } from '../../src/io/zip.js';
import { prng, type Rng } from '../model/fuzz-files.js';

const CASES = 2000;
const SEED = 0x21b0;
const CASE_MS = 1000; // each archive is a few KB (bombs included); a case that inflates gigabytes takes seconds
const NAME = 'fuzz.zip';
const text = (s: string) => new TextEncoder().encode(s);

/** One entry of an archive made by `archive`: every header field can be given a wrong value. */
interface Entry {
  name: Uint8Array;
  /** The bytes stored after the local header (already deflated for method 8). */
  stored: Uint8Array;
  method: number;
  flags?: number;
  crc: number;
  compressedSize?: number;
  size: number;
  /** The name in the local header, when it differs from the directory's. */
  localName?: Uint8Array;
  /** The local header offset written in the directory, when it is not the real one. */
  offset?: number;
}

const entry = (name: string, data: Uint8Array, method = 0): Entry => ({ name: text(name), stored: method === 8 ? deflateRawSync(data) : data, method, crc: crc32(data), size: data.length });

/** A ZIP archive of `entries` (local headers and data, the central directory, the end record), with `extraDirectory` more directory entries pointing anywhere. */
function archive(entries: Entry[], extraDirectory: Entry[] = []): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  const push = (b: Uint8Array) => (parts.push(b), (at += b.length));
  const header = (size: number, fill: (v: DataView) => void) => {
    const b = new Uint8Array(size);
    fill(new DataView(b.buffer));
    return b;
  };
  const common = (v: DataView, o: number, e: Entry, name: Uint8Array) => {
    v.setUint16(o, 20, true);
    v.setUint16(o + 2, e.flags ?? 0x0800, true);
    v.setUint16(o + 4, e.method, true);
    v.setUint32(o + 10, e.crc >>> 0, true);
    v.setUint32(o + 14, (e.compressedSize ?? e.stored.length) >>> 0, true);
    v.setUint32(o + 18, e.size >>> 0, true);
    v.setUint16(o + 22, name.length, true);
  };
  const offsets = entries.map((e) => {
    const offset = at;
    const name = e.localName ?? e.name;
    push(header(30, (v) => (v.setUint32(0, 0x04034b50, true), common(v, 4, e, name))));
    push(name);
    push(e.stored);
    return offset;
  });
  const centralStart = at;
  [...entries, ...extraDirectory].forEach((e, k) => {
    push(header(46, (v) => (v.setUint32(0, 0x02014b50, true), common(v, 6, e, e.name), v.setUint32(42, (e.offset ?? offsets[k] ?? 0) >>> 0, true))));
    push(e.name);
  });
  const n = entries.length + extraDirectory.length;
  push(header(22, (v) => (v.setUint32(0, 0x06054b50, true), v.setUint16(8, n, true), v.setUint16(10, n, true), v.setUint32(12, at - centralStart, true), v.setUint32(16, centralStart, true))));
  const out = new Uint8Array(at);
  let p = 0;
  for (const b of parts) (out.set(b, p), (p += b.length));
  return out;
}

const FILES: Record<string, Uint8Array> = {
  'adapter/adapter_config.json': text('{"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}'),
  'adapter/adapter_model.safetensors': Uint8Array.from({ length: 700 }, (_, i) => (i * 37) & 0xff),
  'README.md': text('# an adapter\n'.repeat(20)),
  'empty.txt': new Uint8Array(0),
  '한국어.txt': text('안녕하세요'),
};
/** 4 MiB of zeros deflated (about 4 KB, a ratio of 1000): the payload of the bombs. */
const ZEROS = 2 ** 22;
const BOMB = deflateRawSync(new Uint8Array(ZEROS), { level: 9 });

const BASES = [
  zipFiles(FILES),
  archive(Object.entries(FILES).map(([name, data], k) => entry(name, data, k % 2 ? 8 : 0))),
  archive([entry('a.txt', text('the quick brown fox '.repeat(30)), 8), entry('b/c.bin', Uint8Array.from({ length: 300 }, (_, i) => i & 0xff), 8)]),
];

const BAD_NAMES = ['../evil.txt', 'a/../../evil.txt', '..', '/etc/passwd', '/abs', 'C:/x.txt', 'c:x.txt', 'D:\\x.txt', 'a\\..\\b.txt', '..\\x', 'a//b.txt', './a.txt', 'a/./b.txt', 'a\u0000b.txt', ''];

/** A hostile archive crafted whole. */
function crafted(r: Rng): Uint8Array {
  const ok = entry('ok.txt', text('fine'));
  switch (r.int(9)) {
    case 0: return archive([ok, entry(r.pick(BAD_NAMES), text('x'), r.pick([0, 8]))]);
    case 1: {
      // The same name twice (or once as a folder entry and once as a file).
      const name = r.pick(['dup.txt', 'adapter/adapter_config.json', '__proto__', 'constructor']);
      return archive([entry(name, text('one'), r.pick([0, 8])), ok, entry(name, text('two'), r.pick([0, 8]))]);
    }
    case 2: {
      // Bombs: 4 KB of deflate data declared as gigabytes (more than deflate can make), or as less than the 4 MiB it inflates to.
      const declared = r.pick([0xfffffffe, 0xffffffff, 2 ** 31, 2 ** 30 + 1, ZEROS, ZEROS + 1, ZEROS - 1, 1000, 0]);
      return archive([ok, { name: text('bomb.bin'), stored: BOMB, method: 8, crc: r.next() < 0.5 ? 0 : crc32(new Uint8Array(ZEROS)), size: declared }]);
    }
    case 3: {
      // Overlapping entries: directory entries that all point at one local header (a quoted-overlap bomb).
      const bomb: Entry = { name: text('bomb.bin'), stored: BOMB, method: 8, crc: crc32(new Uint8Array(ZEROS)), size: ZEROS };
      const copies = Array.from({ length: 2 + r.int(30) }, (_, k) => ({ ...bomb, name: r.next() < 0.5 ? text('bomb.bin') : text(`bomb${k}.bin`), offset: 0 }));
      return archive([bomb], copies);
    }
    case 4: return archive([ok, { ...entry('m.bin', text('data')), method: r.pick([1, 6, 9, 12, 14, 19, 93, 95, 98, 99, 0xffff]) }]);
    case 5: return archive([ok, { ...entry('secret.txt', text('data'), r.pick([0, 8])), flags: r.pick([0x0001, 0x0801, 0x0041, 0x0809]) }]);
    case 6: {
      // A name that is not UTF-8, a local header naming another file, a name in the local header only.
      const e = entry('name.txt', text('data'));
      const k = r.int(3);
      if (k === 0) e.name = Uint8Array.from([0x6e, 0xff, 0xfe, 0x2e, 0x74]);
      else if (k === 1) e.localName = text('../evil.txt');
      else e.localName = text('nameXtxt');
      return archive([ok, e]);
    }
    case 7: {
      // Directory sizes and offsets that lie.
      const e = { ...entry('s.bin', text('stored data here'), r.pick([0, 8])) };
      const field = r.pick(['compressedSize', 'size', 'offset', 'crc'] as const);
      e[field] = r.pick([0, 1, 2, 15, 16, 17, 100, 1e4, 2 ** 31, 0xfffffffe, 0xffffffff]);
      return archive([ok, e]);
    }
    default: {
      // Random bytes around a plausible end record.
      const junk = Uint8Array.from({ length: r.int(200) }, () => r.int(256));
      const base = r.pick(BASES);
      return r.next() < 0.5 ? new Uint8Array([...junk, ...base]) : new Uint8Array([...base.subarray(0, r.int(base.length)), ...junk, ...base.subarray(base.length - 22)]);
    }
  }
}

/** Offsets of the header fields of a valid archive (end record, directory entries, local headers), with their widths. */
function fields(a: Uint8Array): Array<[at: number, width: 2 | 4]> {
  const v = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const end = a.length - 22;
  const out: Array<[number, 2 | 4]> = [[end + 4, 2], [end + 6, 2], [end + 8, 2], [end + 10, 2], [end + 12, 4], [end + 16, 4], [end + 20, 2]];
  let p = v.getUint32(end + 16, true);
  // (An archive mutated once already may point anywhere: its fields are read while they lie inside.)
  for (let k = 0; k < v.getUint16(end + 10, true) && p + 46 <= a.length && v.getUint32(p + 42, true) + 30 <= a.length; k++) {
    for (const f of [8, 10, 16, 20, 24] as const) out.push([p + f, f < 16 ? 2 : 4]);
    out.push([p + 28, 2], [p + 30, 2], [p + 32, 2], [p + 42, 4]);
    const local = v.getUint32(p + 42, true);
    out.push([local + 6, 2], [local + 8, 2], [local + 18, 4], [local + 22, 4], [local + 26, 2], [local + 28, 2]);
    p += 46 + v.getUint16(p + 28, true) + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
  }
  return out;
}

/** One mutation of a valid archive. */
function mutate(r: Rng, base: Uint8Array): Uint8Array {
  const out = base.slice();
  switch (r.int(5)) {
    case 0:
      for (let k = 1 + r.int(4); k > 0; k--) out[r.int(out.length)] ^= 1 + r.int(255);
      return out;
    case 1: return out.subarray(0, r.int(out.length));
    case 2: {
      const at = r.int(out.length);
      return new Uint8Array([...out.subarray(0, at), ...Array.from({ length: 1 + r.int(40) }, () => r.int(256)), ...out.subarray(at)]);
    }
    default: {
      // A header field set to an edge value.
      const v = new DataView(out.buffer);
      for (let k = 1 + r.int(2); k > 0; k--) {
        const [at, width] = r.pick(fields(base).filter(([f, w]) => f >= 0 && f + w <= base.length));
        const value = r.pick([0, 1, 2, 7, 8, 12, 20, 46, 0x7f, 0x800, 0x801, 0xffff, 0xfffe, base.length, base.length - 22, 2 ** 31, 0xffffffff, r.int(2 ** 32)]);
        if (width === 2) v.setUint16(at, value & 0xffff, true);
        else v.setUint32(at, value >>> 0, true);
      }
      return out;
    }
  }
}

/** Why `name` could not be extracted safely, or null. */
function unsafe(name: string): string | null {
  if (name === '' || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\') || name.includes('\0')) return 'absolute, empty or odd';
  const parts = name.split('/');
  return parts.some((s) => s === '..' || s === '.' || s === '') ? 'climbs out or has an empty part' : null;
}

describe('fuzzing unzipFiles', () => {
  it(`fuzzes ${CASES} mutated and crafted archives (seed ${SEED.toString(16)}): each safe files or an Error naming the archive`, async () => {
    // The unchanged archives read back exactly.
    expect(await unzipFiles(BASES[0])).toEqual(FILES);
    expect(await unzipFiles(BASES[1])).toEqual(FILES);
    expect(Object.keys(await unzipFiles(BASES[2]))).toEqual(['a.txt', 'b/c.bin']);

    const r = prng(SEED);
    const problems: string[] = [];
    const outcomes = { files: 0, errors: 0, namingEntry: 0 };
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      let bytes = r.next() < 0.35 ? crafted(r) : mutate(r, r.pick(BASES));
      if (r.next() < 0.15) bytes = mutate(r, bytes.length >= 22 && new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 22, true) === 0x06054b50 ? bytes : r.pick(BASES));
      const t0 = performance.now();
      try {
        const files = await unzipFiles(bytes, { name: NAME });
        outcomes.files++;
        let total = 0;
        for (const [name, data] of Object.entries(files)) {
          if (unsafe(name)) problems.push(`case ${i}: an unsafe name ${JSON.stringify(name)} came back (${unsafe(name)})`);
          if (!(data instanceof Uint8Array)) problems.push(`case ${i}: ${JSON.stringify(name)} is not bytes`);
          total += data.length;
        }
        if (total > bytes.length * 1032 + 1024 * Object.keys(files).length) problems.push(`case ${i}: ${total} bytes out of a ${bytes.length}-byte archive`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (!(e instanceof Error) || e.name !== 'Error' || !msg.startsWith(`unzipFiles: ${NAME}`) || msg.length > 500) {
          problems.push(`case ${i}: ${e instanceof Error ? e.name : typeof e}: ${msg.slice(0, 300)}`);
        } else {
          outcomes.errors++;
          if (/entry "|entry \d+ of \d+/.test(msg)) outcomes.namingEntry++;
        }
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (ms > CASE_MS) problems.push(`case ${i} took ${ms.toFixed(0)} ms`);
    }
    console.log(`fuzz-zip: ${CASES} archives; ${outcomes.files} read, ${outcomes.errors} refused (${outcomes.namingEntry} naming the entry); slowest case ${slowest.toFixed(1)} ms`);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(outcomes.files).toBeGreaterThan(CASES / 20);
    expect(outcomes.errors).toBeGreaterThan(CASES / 2);
  }, 60_000);

  it('refuses each kind of hostile archive with a message naming the archive and the entry', async () => {
    const ok = entry('ok.txt', text('fine'));
    const bomb = (size: number): Entry => ({ name: text('bomb.bin'), stored: BOMB, method: 8, crc: crc32(new Uint8Array(ZEROS)), size });
    const cases: Array<[Uint8Array, RegExp, UnzipOptions?]> = [
      [archive([ok, bomb(0xfffffffe)]), /entry "bomb.bin" says it inflates from \d+ to 4294967294 bytes, more than deflate can/],
      [archive([ok, bomb(1000)]), /entry "bomb.bin" inflates to more than the 1000 bytes the archive says/],
      [archive([ok, bomb(ZEROS)]), /entry "bomb.bin": the entries hold more than 1048576 bytes in all/, { maxBytes: 2 ** 20 }],
      [archive([bomb(ZEROS)], [{ ...bomb(ZEROS), name: text('bomb2.bin'), offset: 0 }]), /entry "bomb2.bin": its local header names another file|overlaps entry "bomb.bin"/],
      [archive([ok, entry('../evil.txt', text('x'))]), /entry "..\/evil.txt": the name contains a '..' segment, so it is not a safe path/],
      [archive([ok, entry('/etc/passwd', text('x'))]), /entry "\/etc\/passwd": the name is absolute/],
      [archive([ok, entry('C:\\evil.txt', text('x'))]), /entry "C:\\\\evil.txt": the name is absolute/],
      [archive([ok, entry('a\\b.txt', text('x'))]), /entry "a\\\\b.txt": the name contains a backslash/],
      [archive([ok, entry('ok.txt', text('again'))]), /entry "ok.txt" appears twice in the archive/],
      [archive([ok, { ...entry('m.bin', text('x')), method: 14 }]), /entry "m.bin" uses compression method 14; only 0 \(stored\) and 8 \(deflate\)/],
      [archive([ok, { ...entry('n.txt', text('x')), name: Uint8Array.from([0x6e, 0xff]) }]), /the name of central directory entry 2 of 2 is not UTF-8/],
      [archive([ok, { ...entry('n.txt', text('x')), localName: text('../n.txt') }]), /entry "n.txt": its local header names another file/],
      [archive([ok, { ...entry('s.txt', text('stored')), offset: 2 ** 31 }]), /entry "s.txt": bad local header signature at offset 2147483648/],
      [archive([ok, { ...entry('s.txt', text('stored')), compressedSize: 1e4, size: 1e4 }]), /entry "s.txt": its data runs past the end of the file data/],
      [zipFiles(FILES).subarray(0, 400), /unzipFiles: fuzz.zip: no end-of-central-directory record/],
    ];
    for (const [bytes, message, extra] of cases) {
      const t0 = performance.now();
      await expect(unzipFiles(bytes, { name: NAME, ...extra }), String(message)).rejects.toThrow(message);
      expect(performance.now() - t0, String(message)).toBeLessThan(CASE_MS);
    }
    // The bomb declared with its true size reads (4 MiB), and without a name the message says 'the archive'.
    expect((await unzipFiles(archive([bomb(ZEROS)])))['bomb.bin'].length).toBe(ZEROS);
    await expect(unzipFiles(archive([bomb(7)]))).rejects.toThrow(/^unzipFiles: the archive: entry "bomb.bin" inflates to more than the 7 bytes/);
  });
});
