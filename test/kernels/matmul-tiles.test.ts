// The matmul family's two promises about its WGSL (src/gpu/kernels/matmul/tiles.ts): the tile
// sizes the launchers dispatch with (tiles.ts, weight-grad-split.ts) are the ones the shaders
// compute with, and no function body is copied between matmul shaders (shared code lives in
// shaders/lib/ and shaders/weights/ and is composed in). Both read the .wgsl sources as text.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SPLIT_ROW_STEP, SPLIT_TILE_THIN, SPLIT_TILE_WIDE } from '../../src/gpu/kernels/matmul/weight-grad-split.js';
import { TILE128, TILE128_WORKGROUP_BYTES, TILE64, TILED_WORKGROUP } from '../../src/gpu/kernels/matmul/tiles.js';

const SHADERS = join(import.meta.dirname, '../../shaders');
const source = (file: string) => readFileSync(join(SHADERS, file), 'utf8');

/** The value of `const NAME: u32 = <n>u;` in a WGSL source. */
function constant(code: string, name: string): number {
  const m = code.match(new RegExp(`^const ${name}: u32 = (\\d+)u;`, 'm'));
  if (!m) throw new Error(`no const ${name}`);
  return Number(m[1]);
}

describe('matmul tile sizes', () => {
  it('the 64 × 64 kernels compute the tiles tiles.ts dispatches, with 16 × 16 invocations', () => {
    for (const file of ['matmul_tile64_forward.wgsl', 'matmul_tile64_backward.wgsl', 'matmul_tile64_weight_grad.wgsl']) {
      const code = source(file);
      expect(constant(code, 'TILE'), file).toBe(TILE64);
      expect(constant(code, 'SIDE') ** 2, file).toBe(TILED_WORKGROUP);
      expect(code, file).toContain('@compute @workgroup_size(SIDE, SIDE)');
    }
  });

  it('the 128 × 128 kernels share one geometry of the size tiles.ts dispatches and budgets', () => {
    const lib = source('lib/matmul_tile128.wgsl');
    expect(constant(lib, 'TILE')).toBe(TILE128);
    // Two copies of two slices (the staged input rows and weight rows), STEP × TILE f32 each.
    expect(2 * 2 * constant(lib, 'STEP') * TILE128 * 4).toBe(TILE128_WORKGROUP_BYTES);
    for (const file of ['matmul_tile128_forward.wgsl', 'matmul_tile128_backward.wgsl']) {
      expect(source(file), file).toContain(`@compute @workgroup_size(${TILED_WORKGROUP})`);
      expect(() => constant(source(file), 'TILE'), `${file} declares no TILE of its own`).toThrow();
    }
  });

  it('the split weight gradient stages the rows and tiles weight-grad-split.ts plans', () => {
    const code = source('matmul_tile16x128_weight_grad.wgsl');
    expect(constant(code, 'TM')).toBe(SPLIT_ROW_STEP);
    expect(constant(code, 'THIN')).toBe(SPLIT_TILE_THIN);
    expect(constant(code, 'WIDE')).toBe(SPLIT_TILE_WIDE);
  });
});

/** Every function of a WGSL source: its name and its body with comments and spacing removed and its parameters renamed p0, p1, ... */
function functions(code: string): Array<{ name: string; body: string }> {
  const text = code.replace(/\/\/[^\n]*/g, '');
  const found: Array<{ name: string; body: string }> = [];
  for (const m of text.matchAll(/\bfn\s+(\w+)\s*\(([^)]*)\)[^{]*\{/g)) {
    const start = m.index! + m[0].length - 1; // the opening brace
    let depth = 0;
    let end = start;
    do {
      if (text[end] === '{') depth++;
      else if (text[end] === '}') depth--;
      end++;
    } while (depth > 0 && end < text.length);
    let body = text.slice(start, end).replace(/\s+/g, ' ');
    if (m[2].includes('@')) continue; // an entry point (its builtins): each kernel's own
    const params = m[2].split(',').map((p) => p.split(':')[0].trim()).filter(Boolean);
    params.forEach((p, i) => (body = body.replace(new RegExp(`\\b${p}\\b`, 'g'), `p${i}`)));
    found.push({ name: m[1], body });
  }
  return found;
}

describe('matmul shaders', () => {
  it('copy no function body from one another', () => {
    const files = readdirSync(SHADERS).filter((f) => f.startsWith('matmul_') && f.endsWith('.wgsl'));
    expect(files.length).toBeGreaterThanOrEqual(12);
    const seen = new Map<string, string>();
    const copies: string[] = [];
    for (const file of files) {
      for (const { name, body } of functions(source(file))) {
        if (name === 'main' || name === 'element' || name === 'invocations') continue; // each kernel's own work
        const first = seen.get(body);
        if (first) copies.push(`${file} ${name} = ${first}`);
        else seen.set(body, `${file} ${name}`);
      }
    }
    expect(copies).toEqual([]);
  });

  it('the check finds a copied function', () => {
    const a = functions('fn slot(k: u32, v: u32) -> u32 {\n  return k * 4u + v; // a comment\n}');
    const b = functions('fn place(n: u32, w: u32) -> u32 { return n * 4u + w; }');
    expect(a[0].body).toBe(b[0].body);
  });
});
