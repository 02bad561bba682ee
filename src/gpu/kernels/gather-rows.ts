// Rows of a [*, C] tensor picked by an index list (shaders/gather_rows.wgsl): gatherRows packs
// rows[0 .. n) of inp into out[0 .. n), scatterRows writes inp[0 .. n) back to those rows of out.
// The training pass uses them to run the LM head and the loss on labelled positions only.
import code from '../../../shaders/gather_rows.wgsl?raw';
import { u32, type KernelSpec, type Recorder } from '../kernel.js';
import { grid1dKernel } from './grid-1d.js';
import type { Tensor } from '../tensor.js';

export interface GatherRowsDims {
  n: number; // rows copied (entries of rows used)
  C: number; // row width
  /** Rows of the indexed tensor (inp for a gather, out for a scatter): every index must be below it. */
  indexedRows: number;
  scatter?: boolean;
}

export const gatherRowsKernel: KernelSpec<GatherRowsDims> = grid1dKernel('gather_rows.wgsl', {
  name: 'gather_rows',
  code,
  bindings: ['read_write', 'read', 'read'],
  constants: (d) => ({ SCATTER: d.scatter ? 1 : 0 }),
  params: (d) => [u32(d.n), u32(d.C)],
  workgroupSize: 256,
  threads: (d) => d.n * d.C,
});

function launch(kernel: string, rec: Recorder, out: Tensor, inp: Tensor, rows: Tensor, d: GatherRowsDims, rowIndices: ArrayLike<number>): void {
  const { n, C, indexedRows } = d;
  if (rows.dtype !== 'u32') throw new Error(`${kernel}: rows must be u32, got ${rows.dtype}`);
  const [packed, indexed] = d.scatter ? [inp, out] : [out, inp];
  const sizes: Array<[Tensor, number, string]> = [
    [rows, n, 'rows'],
    [packed, n * C, d.scatter ? 'inp' : 'out'],
    [indexed, indexedRows * C, d.scatter ? 'out' : 'inp'],
  ];
  for (const [t, want, what] of sizes) {
    if (t.size < want) throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (n=${n} C=${C} indexed rows=${indexedRows})`);
  }
  // The GPU would drop an out-of-range read or write silently: the indices are checked here, from
  // the CPU copy the caller uploaded.
  for (let j = 0; j < n; j++) {
    const r = rowIndices[j];
    if (!(Number.isInteger(r) && r >= 0 && r < indexedRows)) throw new RangeError(`${kernel}: rows[${j}] = ${r} is not a row below ${indexedRows}`);
  }
  if (n > 0 && C > 0) rec.run(gatherRowsKernel, d, [out, inp, rows]);
}

/** out[j, :] = inp[rows[j], :] for j < n; inp: [indexedRows, C]; out: [≥ n, C]; rowIndices: the CPU copy of rows. */
export function gatherRows(rec: Recorder, out: Tensor, inp: Tensor, rows: Tensor, dims: Omit<GatherRowsDims, 'scatter'>, rowIndices: ArrayLike<number>): void {
  launch('gather_rows', rec, out, inp, rows, { ...dims, scatter: false }, rowIndices);
}

/**
 * out[rows[j], :] = inp[j, :] for j < n (rows distinct); inp: [≥ n, C]; out: [indexedRows, C];
 * the other rows of out are left as they are.
 */
export function scatterRows(rec: Recorder, out: Tensor, inp: Tensor, rows: Tensor, dims: Omit<GatherRowsDims, 'scatter'>, rowIndices: ArrayLike<number>): void {
  const seen = new Set<number>();
  for (let j = 0; j < dims.n; j++) {
    if (seen.has(rowIndices[j])) throw new Error(`scatter_rows: row ${rowIndices[j]} appears twice in rows (at ${j})`);
    seen.add(rowIndices[j]);
  }
  launch('scatter_rows', rec, out, inp, rows, { ...dims, scatter: true }, rowIndices);
}
