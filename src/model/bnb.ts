// bitsandbytes 4-bit checkpoints as transformers saves them (a model loaded with
// BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4'), then save_pretrained): read
// as they are, each quantized projection turned into this engine's nf4 words
// (../gpu/quant/nf4.ts) without re-quantizing a value. Only NF4 with blocksize 64 is read (the
// QLoRA format, which these words are); fp4 and 8-bit checkpoints are refused by name.
//
// config.json's quantization_config (transformers' BitsAndBytesConfig.to_dict):
//   {"quant_method": "bitsandbytes", "load_in_4bit": true, "load_in_8bit": false,
//    "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": false | true,
//    "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_quant_storage": "uint8", ...}
//
// A quantized Linear4bit `<m>` (bitsandbytes/nn/modules.py Linear4bit._save_to_state_dict, with
// QuantState.as_dict(packed=True) in bitsandbytes/functional.py) is saved as:
//   <m>.weight                               U8 [(n + 1) / 2, 1]: the n = N·K codes of the flattened
//                                            [N, K] (nn.Linear [out, in]) weight, two per byte, the
//                                            even element in the HIGH nibble: byte j =
//                                            code[2j] << 4 | code[2j + 1] (a padding code for odd n);
//   <m>.weight.absmax                        F32 [⌈n / blocksize⌉]: each block's absmax; or, with
//                                            double quantization, U8: each absmax's 8-bit code;
//   <m>.weight.quant_map                     F32 [16]: the 4-bit value table (NF4, in order);
//   <m>.weight.nested_absmax                 F32 [⌈blocks / nested_blocksize⌉] (double quant only);
//   <m>.weight.nested_quant_map              F32 [256]: the 8-bit dynamic map (double quant only);
//   <m>.weight.quant_state.bitsandbytes__nf4 U8: the UTF-8 bytes of a JSON object {quant_type,
//                                            blocksize, dtype, shape, and with double quant
//                                            nested_blocksize, nested_dtype, nested_offset}.
// A weight's value is NF4[code] · absmax of its block, an f32 product. With double quantization
// (QuantState.nested; functional.py dequantize_4bit → dequantize_blockwise), the absmax of block b
// is first recovered in f32 arithmetic as
//   absmax[b] = f32(f32(nested_quant_map[q[b]] · nested_absmax[⌊b / nested_blocksize⌋]) + f32(nested_offset)),
// the product being dequantize_blockwise's and the sum `absmax += quant_state.offset`.
import { BLOCK_LAYOUT } from '../gpu/quant/layout.js';
import { NF4_VALUES } from '../gpu/quant/nf4.js';
import { ModelConfigError } from './config-fields.js';
import { readTensorF32, readTensorI32, type SafetensorsHeader, type TensorInfo } from './safetensors.js';
import type { ModelSource } from './source.js';

/** A checkpoint's quantization, as config.json's quantization_config says (only this one is read). */
export interface BnbQuantization {
  method: 'bitsandbytes';
  quantType: 'nf4';
  /** bnb_4bit_use_double_quant: the absmax values are themselves quantized (8-bit, blocks of 256). */
  doubleQuant: boolean;
}

export class BnbError extends Error {
  override name = 'BnbError';
}

const SUPPORTED = "'bitsandbytes' with load_in_4bit and bnb_4bit_quant_type 'nf4' (with or without bnb_4bit_use_double_quant)";

/**
 * config.json's quantization_config (`qc`; undefined or null: none) as a BnbQuantization, or null
 * when the checkpoint is not quantized. Anything else is refused, naming the field: another
 * quant_method, 8-bit bitsandbytes, fp4, a quant storage other than uint8. `where` is config.json.
 */
export function parseQuantizationConfig(qc: unknown, where: string): BnbQuantization | null {
  if (qc === undefined || qc === null) return null;
  const at = `${where}: quantization_config`;
  if (typeof qc !== 'object' || Array.isArray(qc)) throw new ModelConfigError(`${at} must be an object`);
  const q = qc as Record<string, unknown>;
  const flag = (key: string): boolean => {
    const v = q[key] ?? q[`_${key}`]; // transformers writes both load_in_4bit and _load_in_4bit
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw new ModelConfigError(`${at}.${key} must be true or false, not ${JSON.stringify(v)}`);
    return v;
  };
  const method = q.quant_method ?? (q.load_in_4bit !== undefined || q.load_in_8bit !== undefined ? 'bitsandbytes' : undefined);
  if (method !== 'bitsandbytes') {
    throw new ModelConfigError(`${at}.quant_method is ${JSON.stringify(method)}, which is not supported; supported: ${SUPPORTED}`);
  }
  if (flag('load_in_8bit')) {
    throw new ModelConfigError(
      `${at}.load_in_8bit is true: 8-bit bitsandbytes (LLM.int8) checkpoints are not supported; load the original (unquantized) weights with --weights q8 (weightStorage 'q8') for 8-bit storage, or use a 4-bit nf4 checkpoint`,
    );
  }
  if (!flag('load_in_4bit')) throw new ModelConfigError(`${at}: quant_method 'bitsandbytes' with neither load_in_4bit nor load_in_8bit true; supported: ${SUPPORTED}`);
  // BitsAndBytesConfig's default quant type is fp4.
  const type = q.bnb_4bit_quant_type ?? 'fp4';
  if (type !== 'nf4') {
    throw new ModelConfigError(
      `${at}.bnb_4bit_quant_type is ${JSON.stringify(type)}${q.bnb_4bit_quant_type === undefined ? " (transformers' default)" : ''}: only 'nf4' 4-bit bitsandbytes checkpoints are supported`,
    );
  }
  const storage = q.bnb_4bit_quant_storage;
  if (storage !== undefined && storage !== null && storage !== 'uint8') {
    throw new ModelConfigError(`${at}.bnb_4bit_quant_storage is ${JSON.stringify(storage)}: only 'uint8' (the default) packed weights are supported`);
  }
  const dq = q.bnb_4bit_use_double_quant ?? false;
  if (typeof dq !== 'boolean') throw new ModelConfigError(`${at}.bnb_4bit_use_double_quant must be true or false, not ${JSON.stringify(dq)}`);
  return { method: 'bitsandbytes', quantType: 'nf4', doubleQuant: dq };
}

// ---- One quantized weight -------------------------------------------------------------------

/** A tensor found in a checkpoint: its file's header and its entry. */
export interface Located {
  header: SafetensorsHeader;
  info: TensorInfo;
}

/** The tensors of one bnb-quantized weight (the names as bitsandbytes saves them, off `<m>.weight`). */
export interface BnbWeight {
  weight: Located;
  absmax: Located;
  quantMap: Located;
  quantState: Located;
  nestedAbsmax?: Located;
  nestedQuantMap?: Located;
}

/** The companion tensor names of a bnb weight `<m>.weight`. */
export const bnbTensorNames = (weight: string) => ({
  absmax: `${weight}.absmax`,
  quantMap: `${weight}.quant_map`,
  nestedAbsmax: `${weight}.nested_absmax`,
  nestedQuantMap: `${weight}.nested_quant_map`,
  quantState: (type: string) => `${weight}.quant_state.bitsandbytes__${type}`,
});

const fileOf = (source: ModelSource, t: Located) => `${source.description}/${t.header.file}`;
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The bnb tensors of `weight` (found as `weight.info.name`), or null when it is a float tensor
 * (not U8). A U8 weight must have its quant_state, absmax and quant_map (and with a U8 absmax the
 * nested ones), and `n` (the element count the config gives the weight) packed codes: every
 * error names the file and the tensor. Only headers are read.
 */
export async function locateBnbWeight(
  source: ModelSource,
  find: (name: string) => Promise<Located | undefined>,
  weight: Located,
  shape: readonly number[],
): Promise<BnbWeight | null> {
  const name = weight.info.name;
  const names = bnbTensorNames(name);
  if (weight.info.dtype !== 'U8') return null; // a float weight (bnb_4bit_quant_storage other than uint8 is refused by the config)
  const [nf4State, fp4State] = [await find(names.quantState('nf4')), await find(names.quantState('fp4'))];
  const here = `${fileOf(source, weight)}: tensor '${name}'`;
  if (fp4State && !nf4State) throw new BnbError(`${here} is bitsandbytes fp4 ('${fp4State.info.name}'): only nf4 4-bit checkpoints are supported`);
  if (!nf4State) throw new BnbError(`${here} is U8 [${weight.info.shape.join(', ')}] but has no '${names.quantState('nf4')}': it is neither a float weight nor a bitsandbytes nf4 one`);
  const n = numel(shape);
  const packed = numel(weight.info.shape);
  if (packed !== Math.ceil(n / 2)) {
    throw new BnbError(`${here}: ${packed} packed bytes [${weight.info.shape.join(', ')}], but the config's shape [${shape.join(', ')}] has ${n} elements, which pack into ${Math.ceil(n / 2)} bytes`);
  }
  const need = async (key: string, dtypes: string[]): Promise<Located> => {
    const t = await find(key);
    if (!t) throw new BnbError(`${here}: its bitsandbytes tensor '${key}' is missing`);
    if (!dtypes.includes(t.info.dtype)) throw new BnbError(`${fileOf(source, t)}: tensor '${key}' has dtype ${t.info.dtype}, expected ${dtypes.join(' or ')}`);
    return t;
  };
  const out: BnbWeight = {
    weight,
    quantState: await need(names.quantState('nf4'), ['U8']),
    absmax: await need(names.absmax, ['F32', 'U8']),
    quantMap: await need(names.quantMap, ['F32']),
  };
  if (out.absmax.info.dtype === 'U8') {
    out.nestedAbsmax = await need(names.nestedAbsmax, ['F32']);
    out.nestedQuantMap = await need(names.nestedQuantMap, ['F32']);
  }
  return out;
}

/** The quant_state JSON's fields that the conversion reads. */
export interface BnbQuantState {
  quant_type: string;
  blocksize: number;
  shape: number[];
  dtype?: string;
  nested_blocksize?: number;
  nested_dtype?: string;
  nested_offset?: number;
}

/** The parts of one bnb weight as read from the file. */
export interface BnbParts {
  /** The packed codes (⌈n/2⌉ bytes, even element in the high nibble). */
  packed: ArrayLike<number>;
  /** F32 absmax per block, or (double quant) the U8 code of each. */
  absmax: ArrayLike<number>;
  absmaxIsCodes: boolean;
  quantMap: Float32Array;
  quantState: BnbQuantState;
  nestedAbsmax?: Float32Array;
  nestedQuantMap?: Float32Array;
}

/** Names a part of one bnb weight in messages: "<file>: tensor '<name>'". */
export type BnbWhere = (part: keyof BnbWeight) => string;

/** BnbWhere for a weight `<m>.weight` of `file` whose parts all lie in that file. */
export function bnbWhere(file: string, weight: string): BnbWhere {
  const names = bnbTensorNames(weight);
  return (part) => {
    const name = part === 'weight' ? weight : part === 'quantState' ? names.quantState('nf4') : names[part];
    return `${file}: tensor '${name}'`;
  };
}

/**
 * The quant_state tensor's bytes as its JSON object, checked: `what` names the file and tensor.
 */
export function parseQuantState(bytes: ArrayLike<number>, what: string): BnbQuantState {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)));
  } catch (e) {
    throw new BnbError(`${what}: not the UTF-8 bytes of a JSON object (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BnbError(`${what}: not a JSON object`);
  return json as BnbQuantState;
}

const isPositiveInt = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;

/**
 * One bnb NF4 weight of `shape` ([N, K]) as this engine's nf4 words: the same codes (each byte's
 * nibbles swapped into the words' order, the padding code of an odd n dropped) and each block's
 * absmax in f32 (with double quantization, dequantized as bitsandbytes does, in f32 steps). Any
 * mismatch with the format is an error naming the file and the tensor (`where`).
 */
export function bnbNf4Words(parts: BnbParts, shape: readonly number[], where: BnbWhere): Uint32Array {
  const qs = parts.quantState;
  const what = where('weight');
  const state = where('quantState');
  if (qs.quant_type !== 'nf4') throw new BnbError(`${state}: quant_type is ${JSON.stringify(qs.quant_type)}: only 'nf4' is supported`);
  const BLOCK = BLOCK_LAYOUT.nf4.elements;
  if (qs.blocksize !== BLOCK) {
    throw new BnbError(`${state}: blocksize is ${JSON.stringify(qs.blocksize)}: only blocksize ${BLOCK} (bitsandbytes' default, the one QLoRA uses) is supported`);
  }
  if (!Array.isArray(qs.shape) || qs.shape.length !== shape.length || qs.shape.some((d, i) => d !== shape[i])) {
    throw new BnbError(`${state}: shape is ${JSON.stringify(qs.shape)}, but the config gives this weight [${shape.join(', ')}]`);
  }
  const n = numel(shape);
  const blocks = Math.ceil(n / BLOCK);
  if (parts.packed.length !== Math.ceil(n / 2)) throw new BnbError(`${what}: ${parts.packed.length} packed bytes for ${n} elements (expected ${Math.ceil(n / 2)})`);
  if (parts.quantMap.length !== 16 || parts.quantMap.some((v, i) => v !== NF4_VALUES[i])) {
    throw new BnbError(`${where('quantMap')}: ${parts.quantMap.length} values [${Array.from(parts.quantMap.slice(0, 16)).join(', ')}] are not bitsandbytes' NF4 table [${Array.from(NF4_VALUES).join(', ')}]`);
  }
  if (parts.absmax.length !== blocks) throw new BnbError(`${where('absmax')} has ${parts.absmax.length} values; ${n} elements in blocks of ${BLOCK} need ${blocks}`);
  const absmax = new Float32Array(blocks);
  if (parts.absmaxIsCodes) {
    const nb = qs.nested_blocksize;
    if (!isPositiveInt(nb)) throw new BnbError(`${state}: nested_blocksize is ${JSON.stringify(nb)}: a double-quantized absmax needs a positive nested_blocksize`);
    if (qs.nested_dtype !== 'float32') throw new BnbError(`${state}: nested_dtype is ${JSON.stringify(qs.nested_dtype)}: only 'float32' is supported`);
    if (typeof qs.nested_offset !== 'number' || !Number.isFinite(qs.nested_offset)) throw new BnbError(`${state}: nested_offset is ${JSON.stringify(qs.nested_offset)}, not a finite number`);
    const map = parts.nestedQuantMap;
    const scale = parts.nestedAbsmax;
    if (!map || map.length !== 256) throw new BnbError(`${where('nestedQuantMap')} has ${map?.length ?? 0} values, expected 256`);
    if (!scale || scale.length !== Math.ceil(blocks / nb)) throw new BnbError(`${where('nestedAbsmax')} has ${scale?.length ?? 0} values; ${blocks} absmax values in blocks of ${nb} need ${Math.ceil(blocks / nb)}`);
    // dequantize_blockwise: code[q] · absmax of the nested block (f32); then += offset (an f32 tensor).
    const offset = Math.fround(qs.nested_offset);
    for (let b = 0; b < blocks; b++) absmax[b] = Math.fround(Math.fround(map[parts.absmax[b]] * scale[Math.floor(b / nb)]) + offset);
  } else {
    if (qs.nested_blocksize !== undefined || qs.nested_offset !== undefined) throw new BnbError(`${state} describes double quantization (nested_*), but absmax is F32, not U8 codes`);
    absmax.set(parts.absmax);
  }
  const WORDS = BLOCK_LAYOUT.nf4.words;
  const out = new Uint32Array(blocks * WORDS);
  const absmaxBits = new Uint32Array(absmax.buffer);
  const bytes = parts.packed;
  const nBytes = bytes.length;
  for (let b = 0; b < blocks; b++) {
    out[b * WORDS] = absmaxBits[b];
    // Block b's codes are bytes 32b .. 32b + 31; word j takes bytes 32b + 4j .. + 3, the code of
    // element 2k (a byte's high nibble) to bits 8k .. 8k + 3 and of element 2k + 1 to 8k + 4 .. 8k + 7.
    for (let j = 0; j < 8; j++) {
      let word = 0;
      for (let k = 0; k < 4; k++) {
        const at = b * 32 + j * 4 + k;
        if (at >= nBytes) break;
        const byte = bytes[at];
        word |= (((byte >> 4) & 15) | ((byte & 15) << 4)) << (8 * k);
      }
      out[b * WORDS + 1 + j] = word >>> 0;
    }
  }
  if (n % 2 === 1) {
    // The low nibble of the last byte is bitsandbytes' padding; this format keeps codes past the end 0.
    const e = n - (blocks - 1) * BLOCK; // the element past the end, within the last block
    const w = (blocks - 1) * WORDS + 1 + (e >> 3);
    out[w] = (out[w] & ~(15 << (4 * (e & 7)))) >>> 0;
  }
  return out;
}

/** Read the bnb weight `w` of `shape` and convert it (bnbNf4Words), every error naming the file and tensor. */
export async function readBnbNf4(source: ModelSource, w: BnbWeight, shape: readonly number[]): Promise<Uint32Array> {
  const where: BnbWhere = (part) => {
    const t = w[part];
    return t ? `${fileOf(source, t)}: tensor '${t.info.name}'` : bnbWhere(fileOf(source, w.weight), w.weight.info.name)(part);
  };
  const f32 = (t: Located) => readTensorF32(source, t.header, t.info.name);
  const u8 = (t: Located) => readTensorI32(source, t.header, t.info.name);
  const quantState = parseQuantState(await u8(w.quantState), where('quantState'));
  const absmaxIsCodes = w.absmax.info.dtype === 'U8';
  const parts: BnbParts = {
    quantState,
    quantMap: await f32(w.quantMap),
    packed: await u8(w.weight),
    absmax: absmaxIsCodes ? await u8(w.absmax) : await f32(w.absmax),
    absmaxIsCodes,
    nestedAbsmax: w.nestedAbsmax && (await f32(w.nestedAbsmax)),
    nestedQuantMap: w.nestedQuantMap && (await f32(w.nestedQuantMap)),
  };
  return bnbNf4Words(parts, shape, where);
}
