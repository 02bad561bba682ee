// The composition step of WGSL modules (src/gpu/wgsl.ts): which names a part declares at module
// scope (not those inside functions or structs, nor in comments), that parts are joined in order
// each under a comment naming its file, and that two parts declaring one name are refused with
// both files named. The modules the kernels compose are built on the device by their own tests
// (attention-compose.test.ts, weight-format.test.ts).
import { describe, expect, it } from 'vitest';
import { composeWgsl, declaredNames } from '../../src/gpu/wgsl.js';

const kernel = `
// fn commented_out() {}
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(WEIGHT_BINDING) var<uniform> params: Params;
const WEIGHT_BINDING: u32 = 1u;
override HAS_BIAS: bool = false;
alias Row = array<f32, 4>;
fn helper(x: f32) -> f32 { let inner = x; var local = inner; return local; }
@compute @workgroup_size(64) fn main() { var y = helper(1.0); }
`;

describe('composeWgsl', () => {
  it('lists the module-scope declarations of a part', () => {
    expect(declaredNames(kernel)).toEqual(['Params', 'out', 'params', 'WEIGHT_BINDING', 'HAS_BIAS', 'Row', 'helper', 'main']);
  });

  it('joins the parts in order, each introduced by its file name', () => {
    const code = composeWgsl({ name: 'k.wgsl', code: kernel }, { name: 'weights/f32.wgsl', code: 'fn weight_at(i: u32) -> f32 { return 0.0; }\n\n' });
    expect([...code.matchAll(/^\/\/ ---- (.+) ----$/gm)].map((m) => m[1])).toEqual(['k.wgsl', 'weights/f32.wgsl']);
    expect(code.indexOf('fn main')).toBeLessThan(code.indexOf('fn weight_at'));
    expect(code.endsWith('}\n')).toBe(true);
  });

  it('refuses two parts that declare the same name, naming both files', () => {
    expect(() => composeWgsl({ name: 'a.wgsl', code: kernel }, { name: 'b.wgsl', code: 'fn helper() {}' })).toThrow(
      "composeWgsl: 'helper' is declared by both a.wgsl and b.wgsl",
    );
  });
});
