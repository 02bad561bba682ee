// ZIP archives without dependencies, for browsers and Node: zipFiles writes one (every entry
// stored, i.e. method 0, uncompressed), unzipFiles reads one (stored or deflated entries).
//
// An archive is, in order: for each file a local file header (30 bytes + name) followed by the
// file's bytes; then the central directory, one header per file (46 bytes + name) pointing back
// at its local header; then the end-of-central-directory record (22 bytes + comment), which
// says where the central directory is. All numbers are little-endian. Names are UTF-8, marked
// with general-purpose flag bit 11. There is no ZIP64 here, so an archive stays under 4 GiB and
// 65535 entries. Reading goes through the central directory (the authority on names, sizes and
// CRCs) and checks each entry's CRC-32.

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const END_SIG = 0x06054b50;
const LOCAL_SIZE = 30;
const CENTRAL_SIZE = 46;
const END_SIZE = 22;
/** General-purpose flag bit 11: the name is UTF-8. Bit 0: the entry is encrypted. */
const FLAG_UTF8 = 0x0800;
const FLAG_ENCRYPTED = 0x0001;
const MAX_ENTRIES = 0xffff;
const MAX_SIZE = 2 ** 32;
/** Version needed to extract: 1.0 for stored entries. Made by: Unix (3), spec 2.0. */
const VERSION_NEEDED = 10;
const VERSION_MADE_BY = (3 << 8) | 20;
/** Unix mode 0644 for a regular file, in the high half of the external attributes. */
const EXTERNAL_ATTRS = (0o100644 << 16) >>> 0;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as ZIP, gzip and PNG use it (reflected polynomial 0xEDB88320), as an unsigned number. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Why `name` cannot be a file's path in an archive, or null when it can: a relative path of
 * '/'-separated, non-empty parts, none of them '.' or '..', without backslashes or NUL, and not
 * starting with a drive letter. (Readers that extract to disk rely on this: see "zip slip".)
 */
function nameProblem(name: string): string | null {
  if (name === '') return 'is empty';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is absolute';
  if (name.includes('\\')) return 'contains a backslash (use / between folders)';
  if (name.includes('\0')) return 'contains a NUL character';
  const parts = name.split('/');
  if (parts.includes('..')) return "contains a '..' segment";
  if (parts.includes('.')) return "contains a '.' segment";
  if (parts.includes('')) return 'has an empty folder name (// or a trailing /)';
  return null;
}

/** DOS time and date fields (local time, 2-second resolution), clamped to 1980..2107. */
function dosDateTime(date: Date): { time: number; date: number } {
  const year = date.getFullYear();
  if (Number.isNaN(year)) throw new Error('zipFiles: opts.date is an invalid Date');
  if (year < 1980) return { time: 0, date: (1 << 5) | 1 };
  if (year > 2107) return { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31 };
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/**
 * A ZIP archive of `files` (path → bytes), every entry stored uncompressed, in the order of the
 * record's keys. Paths may name folders ('trl/train.py'); no separate folder entries are written.
 * opts.date stamps every entry (local time); the default, 1980-01-01 00:00, makes the bytes
 * depend on the files alone.
 */
export function zipFiles(files: Record<string, Uint8Array>, opts: { date?: Date } = {}): Uint8Array {
  const utf8 = new TextEncoder();
  const stamp = dosDateTime(opts.date ?? new Date(1980, 0, 1));
  const entries = Object.entries(files).map(([name, data]) => {
    const problem = nameProblem(name);
    if (problem) throw new Error(`zipFiles: the file name ${JSON.stringify(name)} ${problem}`);
    if (!(data instanceof Uint8Array)) throw new Error(`zipFiles: the contents of ${JSON.stringify(name)} are not a Uint8Array`);
    const nameBytes = utf8.encode(name);
    if (nameBytes.length > 0xffff) throw new Error(`zipFiles: the file name ${JSON.stringify(name.slice(0, 40))}... is longer than 65535 bytes`);
    return { name: nameBytes, data, crc: crc32(data), offset: 0 };
  });
  if (entries.length > MAX_ENTRIES) {
    throw new Error(`zipFiles: ${entries.length} files is more than a ZIP archive without ZIP64 holds (65535)`);
  }
  let size = END_SIZE;
  for (const e of entries) size += LOCAL_SIZE + CENTRAL_SIZE + 2 * e.name.length + e.data.length;
  if (size >= MAX_SIZE) {
    throw new Error(`zipFiles: the archive would be ${size} bytes; a ZIP archive without ZIP64 must stay under 4 GiB`);
  }

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let p = 0;
  const u16 = (x: number) => {
    view.setUint16(p, x, true);
    p += 2;
  };
  const u32 = (x: number) => {
    view.setUint32(p, x, true);
    p += 4;
  };
  const bytes = (b: Uint8Array) => {
    out.set(b, p);
    p += b.length;
  };
  // The fields a local header and a central header share, from "version needed" to "extra length".
  const common = (e: (typeof entries)[number]) => {
    u16(VERSION_NEEDED);
    u16(FLAG_UTF8);
    u16(0); // method: stored
    u16(stamp.time);
    u16(stamp.date);
    u32(e.crc);
    u32(e.data.length); // compressed size
    u32(e.data.length); // uncompressed size
    u16(e.name.length);
    u16(0); // extra field length
  };

  for (const e of entries) {
    e.offset = p;
    u32(LOCAL_SIG);
    common(e);
    bytes(e.name);
    bytes(e.data);
  }
  const centralStart = p;
  for (const e of entries) {
    u32(CENTRAL_SIG);
    u16(VERSION_MADE_BY);
    common(e);
    u16(0); // comment length
    u16(0); // disk number
    u16(0); // internal attributes
    u32(EXTERNAL_ATTRS);
    u32(e.offset);
    bytes(e.name);
  }
  const centralSize = p - centralStart;
  u32(END_SIG);
  u16(0); // this disk
  u16(0); // the disk the central directory starts on
  u16(entries.length); // entries on this disk
  u16(entries.length); // entries in all
  u32(centralSize);
  u32(centralStart);
  u16(0); // comment length
  return out;
}

/**
 * The bytes of a raw deflate stream, inflated by the platform's DecompressionStream, chunk by
 * chunk: more than `size` bytes (what the archive declares) stops it at once, so that a zip bomb
 * (a small entry that inflates to gigabytes) never holds more than `size` bytes in memory.
 */
async function inflateRaw(data: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const reader = stream.getReader();
  const out = new Uint8Array(size);
  let length = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw new Error(`${what}: its deflate data is corrupt (${e instanceof Error ? e.message : String(e)})`);
    }
    if (chunk.done) break;
    if (length + chunk.value.length > size) {
      await reader.cancel().catch(() => {});
      throw new Error(`${what} inflates to more than the ${size} bytes the archive says (corrupt archive, or a zip bomb)`);
    }
    out.set(chunk.value, length);
    length += chunk.value.length;
  }
  if (length !== size) throw new Error(`${what} inflates to ${length} bytes, but the archive says ${size}`);
  return out;
}

/** Where the end-of-central-directory record starts: searched backwards over a comment of up to 64 KiB. */
function findEnd(view: DataView, what: string): number {
  const n = view.byteLength;
  for (let i = n - END_SIZE; i >= Math.max(0, n - END_SIZE - 0xffff); i--) {
    if (view.getUint32(i, true) === END_SIG && i + END_SIZE + view.getUint16(i + 20, true) <= n) return i;
  }
  throw new Error(`${what}: no end-of-central-directory record: this is not a ZIP archive, or it was cut short (truncated)`);
}

/** Deflate expands at most 1032:1 (258-byte matches coded in 2 bits); a larger declared size is a lie. */
const MAX_DEFLATE_RATIO = 1032;

export interface UnzipOptions {
  /** The archive's name (e.g. its file name), for messages; default 'the archive'. */
  name?: string;
  /**
   * The most bytes all entries together may hold once read (default 2 GiB): an archive that
   * declares more is refused before anything is inflated.
   */
  maxBytes?: number;
}

/**
 * The files of a ZIP archive (path → bytes), read through its central directory. Entries must be
 * stored (method 0) or deflated (method 8), unencrypted, and match their CRC-32; folder entries
 * (names ending in '/') are skipped. Any other archive gets an Error naming the archive and the
 * entry at fault. An untrusted archive costs bounded time and memory: sizes, offsets and names are
 * checked against the archive before anything is read, entries may not overlap (a bomb's trick to
 * inflate the same bytes many times), and no entry inflates past the size it declares.
 */
export async function unzipFiles(archive: Uint8Array, opts: UnzipOptions = {}): Promise<Record<string, Uint8Array>> {
  const where = `unzipFiles: ${opts.name ?? 'the archive'}`;
  const maxBytes = opts.maxBytes ?? 2 ** 31;
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const end = findEnd(view, where);
  const disk = view.getUint16(end + 4, true);
  const count = view.getUint16(end + 10, true);
  const centralSize = view.getUint32(end + 12, true);
  const centralStart = view.getUint32(end + 16, true);
  if (count === 0xffff || centralStart === 0xffffffff || centralSize === 0xffffffff) {
    throw new Error(`${where}: this is a ZIP64 archive, which is not supported`);
  }
  if (disk !== 0 || view.getUint16(end + 6, true) !== 0) throw new Error(`${where}: multi-part (spanned) archives are not supported`);
  const centralEnd = centralStart + centralSize;
  if (centralEnd > end) throw new Error(`${where}: the central directory lies outside the archive (truncated or corrupt)`);

  // First the directory, every entry checked, then the data (nothing is inflated before all pass).
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const entries: Array<{ name: string; what: string; method: number; crc: number; compressedSize: number; size: number; dataStart: number; localStart: number }> = [];
  const seen = new Set<string>();
  let total = 0;
  let p = centralStart;
  for (let k = 0; k < count; k++) {
    if (p + CENTRAL_SIZE > centralEnd || view.getUint32(p, true) !== CENTRAL_SIG) {
      throw new Error(`${where}: bad signature of central directory entry ${k + 1} of ${count} (corrupt archive)`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    const compressedSize = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const next = p + CENTRAL_SIZE + nameLength + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
    const localStart = view.getUint32(p + 42, true);
    if (next > centralEnd) throw new Error(`${where}: central directory entry ${k + 1} of ${count} runs past the directory's end (corrupt archive)`);
    const nameBytes = archive.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLength);
    let name: string;
    try {
      name = utf8.decode(nameBytes);
    } catch {
      throw new Error(`${where}: the name of central directory entry ${k + 1} of ${count} is not UTF-8 (only UTF-8 names are read)`);
    }
    p = next;
    const what = `${where}: entry ${JSON.stringify(name)}`;
    if (name.endsWith('/')) continue;
    const problem = nameProblem(name);
    if (problem) throw new Error(`${what}: the name ${problem}, so it is not a safe path`);
    if (seen.has(name)) throw new Error(`${what} appears twice in the archive`);
    seen.add(name);
    if (flags & FLAG_ENCRYPTED) throw new Error(`${what} is encrypted, which is not supported`);
    if (method !== 0 && method !== 8) throw new Error(`${what} uses compression method ${method}; only 0 (stored) and 8 (deflate) are supported`);
    if (compressedSize === 0xffffffff || size === 0xffffffff || localStart === 0xffffffff) throw new Error(`${what} needs ZIP64, which is not supported`);
    if (method === 0 && compressedSize !== size) throw new Error(`${what} is stored but its two sizes differ (${compressedSize} and ${size})`);
    if (method === 8 && size > compressedSize * MAX_DEFLATE_RATIO + 1024) {
      throw new Error(`${what} says it inflates from ${compressedSize} to ${size} bytes, more than deflate can (corrupt archive, or a zip bomb)`);
    }
    total += size;
    if (total > maxBytes) throw new Error(`${what}: the entries hold more than ${maxBytes} bytes in all (at least ${total}), more than unzipFiles reads`);

    if (localStart + LOCAL_SIZE > centralStart || view.getUint32(localStart, true) !== LOCAL_SIG) {
      throw new Error(`${what}: bad local header signature at offset ${localStart} (corrupt or truncated archive)`);
    }
    const localNameLength = view.getUint16(localStart + 26, true);
    const dataStart = localStart + LOCAL_SIZE + localNameLength + view.getUint16(localStart + 28, true);
    // The data lies between the local header and the directory (checked before the name is read).
    if (dataStart + compressedSize > centralStart) throw new Error(`${what}: its data runs past the end of the file data (truncated or corrupt archive)`);
    const localName = archive.subarray(localStart + LOCAL_SIZE, localStart + LOCAL_SIZE + localNameLength);
    if (localName.length !== nameBytes.length || localName.some((b, i) => b !== nameBytes[i])) {
      throw new Error(`${what}: its local header names another file (corrupt archive)`);
    }
    entries.push({ name, what, method, crc, compressedSize, size, dataStart, localStart });
  }
  // No two entries may share bytes (an overlapping bomb inflates one deflate stream many times).
  const spans = entries.map((e) => [e.localStart, e.dataStart + e.compressedSize, e] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw new Error(`${spans[i][2].what} overlaps entry ${JSON.stringify(spans[i - 1][2].name)} in the archive (corrupt archive, or a zip bomb)`);
  }

  const files: Array<[string, Uint8Array]> = [];
  for (const e of entries) {
    const raw = archive.subarray(e.dataStart, e.dataStart + e.compressedSize);
    const data = e.method === 0 ? raw.slice() : await inflateRaw(raw, e.size, e.what);
    if (crc32(data) !== e.crc) {
      throw new Error(`${e.what} fails its CRC-32 check (0x${crc32(data).toString(16).padStart(8, '0')}, expected 0x${e.crc.toString(16).padStart(8, '0')}): the archive is corrupt`);
    }
    files.push([e.name, data]);
  }
  // Object.fromEntries defines own properties, so a name like "__proto__" stays a plain key.
  return Object.fromEntries(files);
}
