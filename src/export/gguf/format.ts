// The numbers of the GGUF v3 file format (ggml's gguf.h, gguf-py's constants.py) that this
// exporter writes: metadata value types, tensor types with their block sizes, file types, token
// types. Browser-safe: no Node imports.

export const GGUF_MAGIC = 0x46554747; // the bytes "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
/** general.alignment's default: every tensor's data starts at a multiple of this many bytes. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** The type codes of metadata values (gguf_type). */
export const GGUF_VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;

/** The tensor types written here (ggml_type), with how many elements a block holds and its bytes. */
export const GGML_TYPE = {
  f32: { code: 0, blockElements: 1, blockBytes: 4 },
  f16: { code: 1, blockElements: 1, blockBytes: 2 },
  q8_0: { code: 8, blockElements: 32, blockBytes: 34 }, // f16 d + 32 × int8
} as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

/** general.file_type (llama_ftype) for each export type: "mostly" that type, 1-D tensors f32. */
export const GGUF_FILE_TYPE: Record<GgmlTypeName, number> = { f32: 0, f16: 1, q8_0: 7 };

/** tokenizer.ggml.token_type values (llama_token_type). */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** Bytes of a tensor of `elements` values stored as `type`; throws unless whole blocks. */
export function tensorByteSize(type: GgmlTypeName, elements: number, name: string): number {
  const t = GGML_TYPE[type];
  if (elements % t.blockElements !== 0) throw new Error(`GGUF tensor '${name}': ${elements} elements are not whole ${type} blocks of ${t.blockElements}`);
  return (elements / t.blockElements) * t.blockBytes;
}
