// zipFiles / unzipFiles: round trips, CRC-32, archives checked by and made by Python's zipfile
// (a second implementation), a deflated entry assembled by hand, and every kind of bad archive.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, unzipFiles, zipFiles } from '../../src/io/zip.js';

const text = (s: string) => new TextEncoder().encode(s);
const hasPython = spawnSync('python3', ['--version']).status === 0;
const skipped = hasPython ? '' : ' (skipped: python3 is not on this machine, so no second ZIP implementation checks ours)';

const FILES: Record<string, Uint8Array> = {
  'README.md': text('# hello\n'),
  'trl/train.py': text('print("hi")\n'),
  'trl/data/train.jsonl': text('{"prompt": "a", "completion": "b"}\n'.repeat(50)),
  'empty.txt': new Uint8Array(0),
  '한국어.txt': text('안녕하세요'),
  'bytes.bin': Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff),
};

/** A one-entry archive whose entry is deflated (method 8), laid out by hand. */
function deflatedArchive(name: string, data: Uint8Array, crc = crc32(data)): Uint8Array {
  const n = text(name);
  const packed = deflateRawSync(data);
  const local = new DataView(new ArrayBuffer(30));
  const central = new DataView(new ArrayBuffer(46));
  const end = new DataView(new ArrayBuffer(22));
  local.setUint32(0, 0x04034b50, true);
  central.setUint32(0, 0x02014b50, true);
  for (const [v, at] of [[local, 4], [central, 6]] as const) {
    v.setUint16(at, 20, true); // version needed
    v.setUint16(at + 2, 0x0800, true); // UTF-8 names
    v.setUint16(at + 4, 8, true); // deflate
    v.setUint32(at + 10, crc, true);
    v.setUint32(at + 14, packed.length, true);
    v.setUint32(at + 18, data.length, true);
    v.setUint16(at + 22, n.length, true);
  }
  const centralStart = 30 + n.length + packed.length;
  central.setUint32(42, 0, true); // local header offset
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, 1, true);
  end.setUint16(10, 1, true);
  end.setUint32(12, 46 + n.length, true);
  end.setUint32(16, centralStart, true);
  const parts = [new Uint8Array(local.buffer), n, packed, new Uint8Array(central.buffer), n, new Uint8Array(end.buffer)];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** The offset of the central directory entry of the archive's first file. */
const firstCentral = (zip: Uint8Array) => new DataView(zip.buffer, zip.byteOffset).getUint32(zip.length - 22 + 16, true);

describe('crc32', () => {
  it('gives the standard check value 0xCBF43926 for "123456789", and 0 for nothing', () => {
    expect(crc32(text('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('zipFiles / unzipFiles', () => {
  it('round-trips nested names, an empty file, a UTF-8 name and binary data', async () => {
    const zip = zipFiles(FILES);
    const back = await unzipFiles(zip);
    expect(Object.keys(back)).toEqual(Object.keys(FILES));
    for (const [name, data] of Object.entries(FILES)) expect(back[name], name).toEqual(data);
  });

  it('writes the same bytes every time, dated 1980-01-01 00:00 by default, with the UTF-8 flag set', () => {
    const zip = zipFiles(FILES);
    expect(zipFiles(FILES)).toEqual(zip);
    const v = new DataView(zip.buffer);
    expect(v.getUint32(0, true)).toBe(0x04034b50);
    expect(v.getUint16(6, true) & 0x0800).toBe(0x0800);
    expect(v.getUint16(8, true)).toBe(0); // stored
    expect(v.getUint16(10, true)).toBe(0); // 00:00:00
    expect(v.getUint16(12, true)).toBe((1 << 5) | 1); // 1980-01-01
    const dated = zipFiles(FILES, { date: new Date(2024, 5, 30, 13, 45, 58) });
    const d = new DataView(dated.buffer);
    expect(d.getUint16(10, true)).toBe((13 << 11) | (45 << 5) | 29);
    expect(d.getUint16(12, true)).toBe((44 << 9) | (6 << 5) | 30);
  });

  it('writes an empty archive that reads back as no files', async () => {
    const zip = zipFiles({});
    expect(zip.length).toBe(22);
    expect(await unzipFiles(zip)).toEqual({});
  });

  it('reads a deflated (method 8) entry', async () => {
    const data = text('the quick brown fox jumps over the lazy dog. '.repeat(40));
    expect(await unzipFiles(deflatedArchive('notes/fox.txt', data))).toEqual({ 'notes/fox.txt': data });
  });

  it.skipIf(!hasPython)(`is read by Python's zipfile, which finds every CRC good${skipped}`, () => {
    const file = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-zip-')), 'ours.zip');
    writeFileSync(file, zipFiles(FILES));
    const py = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    print(json.dumps({i.filename: [i.compress_type, i.flag_bits & 0x800, z.read(i).hex()] for i in z.infolist()}))`;
    const r = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as Record<string, [number, number, string]>;
    expect(Object.keys(seen)).toEqual(Object.keys(FILES));
    for (const [name, data] of Object.entries(FILES)) expect(seen[name]).toEqual([0, 0x800, Buffer.from(data).toString('hex')]);
  });

  it.skipIf(!hasPython)(`reads an archive Python's zipfile deflated, folder entries included${skipped}`, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'webgpu-lora-zip-')), 'python.zip');
    const py = `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('adapter/', '')
    z.writestr('adapter/adapter_config.json', '{"r": 8}' * 100)
    z.writestr('한국어.txt', '안녕하세요')
    z.writestr('stored.bin', bytes(range(256)), compress_type=zipfile.ZIP_STORED)
    z.writestr('empty.txt', '')`;
    const r = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = await unzipFiles(new Uint8Array(readFileSync(file)));
    expect(Object.keys(files)).toEqual(['adapter/adapter_config.json', '한국어.txt', 'stored.bin', 'empty.txt']);
    expect(new TextDecoder().decode(files['adapter/adapter_config.json'])).toBe('{"r": 8}'.repeat(100));
    expect(new TextDecoder().decode(files['한국어.txt'])).toBe('안녕하세요');
    expect(files['stored.bin']).toEqual(Uint8Array.from({ length: 256 }, (_, i) => i));
    expect(files['empty.txt']).toEqual(new Uint8Array(0));
  });
});

describe('bad names and bad archives', () => {
  it('refuses file names that are empty, absolute, climb out with .., or use backslashes, naming them', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /"" is empty/],
      ['/etc/passwd', /"\/etc\/passwd" is absolute/],
      ['C:/x.txt', /"C:\/x.txt" is absolute/],
      ['a/../../b', /"a\/..\/..\/b" contains a '..' segment/],
      ['..', /contains a '..' segment/],
      ['trl\\train.py', /"trl\\\\train.py" contains a backslash/],
      ['trl/', /"trl\/" has an empty folder name/],
    ];
    for (const [name, message] of bad) expect(() => zipFiles({ [name]: new Uint8Array(1) }), name).toThrow(message);
  });

  it('refuses more than 65535 entries (no ZIP64)', () => {
    const many = Object.fromEntries(Array.from({ length: 65536 }, (_, i) => [`f${i}`, new Uint8Array(0)]));
    expect(() => zipFiles(many)).toThrow(/65536 files is more than a ZIP archive without ZIP64 holds \(65535\)/);
  });

  it('names the entry whose CRC-32 does not match', async () => {
    const zip = zipFiles({ 'a.txt': text('aaaa'), 'b.txt': text('bbbb') });
    zip[30 + 'a.txt'.length + 34 + 'b.txt'.length + 1] ^= 0xff; // a byte of b.txt's data
    await expect(unzipFiles(zip)).rejects.toThrow(/entry "b.txt" fails its CRC-32 check/);
    const deflated = deflatedArchive('fox.txt', text('fox'), 0x12345678);
    await expect(unzipFiles(deflated)).rejects.toThrow(/entry "fox.txt" fails its CRC-32 check .*expected 0x12345678/);
  });

  it('reports a truncated archive', async () => {
    const zip = zipFiles(FILES);
    await expect(unzipFiles(zip.slice(0, zip.length - 10))).rejects.toThrow(/truncated/);
    await expect(unzipFiles(zip.slice(0, 1000))).rejects.toThrow(/truncated/);
    await expect(unzipFiles(new Uint8Array(0))).rejects.toThrow(/not a ZIP archive/);
    await expect(unzipFiles(text('just some text, not a zip file at all'))).rejects.toThrow(/not a ZIP archive/);
    // An end record whose directory offset points into the file data instead.
    const wrong = zipFiles({ 'a.txt': text('a'.repeat(100)) });
    new DataView(wrong.buffer).setUint32(wrong.length - 22 + 16, 30 + 5 + 40, true);
    await expect(unzipFiles(wrong)).rejects.toThrow(/bad signature of central directory entry 1 of 1/);
    // A directory that points at a local header past the end of the bytes.
    const far = zipFiles({ 'a.txt': text('a') });
    new DataView(far.buffer).setUint32(firstCentral(far) + 42, 10_000, true);
    await expect(unzipFiles(far)).rejects.toThrow(/entry "a.txt": bad local header signature at offset 10000 \(corrupt or truncated archive\)/);
  });

  it('reports a bad local header, corrupt deflate data, unsupported methods and encryption, naming the entry', async () => {
    const zip = zipFiles({ 'x.txt': text('xyz') });
    const at = firstCentral(zip);
    const patched = (edit: (v: DataView) => void) => {
      const copy = zip.slice();
      edit(new DataView(copy.buffer));
      return copy;
    };
    await expect(unzipFiles(patched((v) => v.setUint32(0, 0xdeadbeef, true)))).rejects.toThrow(/entry "x.txt": bad local header signature/);
    await expect(unzipFiles(patched((v) => v.setUint16(at + 10, 12, true)))).rejects.toThrow(/entry "x.txt" uses compression method 12; only 0 \(stored\) and 8 \(deflate\)/);
    await expect(unzipFiles(patched((v) => v.setUint16(at + 8, 0x0801, true)))).rejects.toThrow(/entry "x.txt" is encrypted/);
    await expect(unzipFiles(patched((v) => v.setUint16(at + 10, 8, true)))).rejects.toThrow(/entry "x.txt": its deflate data is corrupt/);
  });

  it('refuses an archive whose entry names would escape the folder it is extracted to', async () => {
    const zip = zipFiles({ 'ab/cd.txt': text('x') });
    // Rewrite the name in both headers: 'ab/cd.txt' → '../cd.txt' (same length).
    const evil = zip.slice();
    for (let i = 0; i + 2 < evil.length; i++) if (evil[i] === 0x61 && evil[i + 1] === 0x62 && evil[i + 2] === 0x2f) evil.set(text('..'), i);
    await expect(unzipFiles(evil)).rejects.toThrow(/entry "..\/cd.txt": the name contains a '..' segment/);
  });
});
