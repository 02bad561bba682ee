// Python's str.strip / lstrip / rstrip, which chat templates call (Qwen3: content.lstrip('\n'))
// and which Jinja's `trim` filter is (do_trim(value, chars) = str(value).strip(chars)).
//
// Without an argument (or with None) Python strips the characters for which str.isspace() is
// true; that set is not JavaScript's String.prototype.trim set: Python also strips U+001C..U+001F
// and U+0085 (NEL) and keeps U+FEFF (the byte-order mark), which JavaScript strips. With a string
// argument, Python strips any of its code points (a set, not a prefix), from one end or both.

/** The 29 code points for which Python 3's str.isspace() is true (Unicode White_Space plus the ASCII separators 0x1C-0x1F). */
export const PYTHON_WHITESPACE: ReadonlySet<number> = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

export type StripSide = 'both' | 'left' | 'right';

/**
 * `s.strip(chars)` (side 'both'), `s.lstrip(chars)` ('left') or `s.rstrip(chars)` ('right') as
 * Python computes it: chars undefined or null strips whitespace (PYTHON_WHITESPACE); a string
 * strips every leading/trailing code point that occurs in it ('' strips nothing).
 */
export function pythonStrip(s: string, chars: string | null | undefined, side: StripSide): string {
  const set: ReadonlySet<number> = chars == null ? PYTHON_WHITESPACE : new Set(Array.from(chars, (c) => c.codePointAt(0)!));
  // Code points, not UTF-16 units, so that a character outside the BMP is kept or stripped whole.
  const points = Array.from(s);
  let start = 0;
  let end = points.length;
  if (side !== 'right') while (start < end && set.has(points[start].codePointAt(0)!)) start++;
  if (side !== 'left') while (end > start && set.has(points[end - 1].codePointAt(0)!)) end--;
  return start === 0 && end === points.length ? s : points.slice(start, end).join('');
}
