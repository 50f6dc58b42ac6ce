/**
 * ONNX tensor element types (`TensorProto.DataType`), named the way onnxruntime's JavaScript API names
 * them (`'float32'`, `'int64'`, ...) so that a type read from a model file, a type reported by an
 * inference session and a type written in a feature spec compare as plain strings. Types that
 * onnxruntime's JavaScript API cannot carry keep a descriptive ONNX name (`'bfloat16'`, ...).
 */

/** Element type names indexed by their `TensorProto.DataType` code (0 = UNDEFINED). */
const NAMES = [
  undefined,
  'float32',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'int32',
  'int64',
  'string',
  'bool',
  'float16',
  'float64',
  'uint32',
  'uint64',
  'complex64',
  'complex128',
  'bfloat16',
  'float8e4m3fn',
  'float8e4m3fnuz',
  'float8e5m2',
  'float8e5m2fnuz',
  'uint4',
  'int4',
  'float4e2m1',
] as const;

/** A tensor element type: `'float32'`, `'int64'`, `'string'`, ... */
export type TensorElementType = Exclude<(typeof NAMES)[number], undefined>;

/**
 * The element types that onnxruntime-node can pass in and out of a session; a model whose inputs or
 * outputs use any other type loads in the native runtime but cannot be served from JavaScript.
 */
export const RUNTIME_ELEMENT_TYPES: ReadonlySet<TensorElementType> = new Set<TensorElementType>([
  'float32',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'int32',
  'int64',
  'string',
  'bool',
  'float16',
  'float64',
  'uint32',
  'uint64',
  'uint4',
  'int4',
]);

/** The name of a `TensorProto.DataType` code, or undefined for UNDEFINED and unknown codes. */
export function elementTypeOf(code: number): TensorElementType | undefined {
  return NAMES[code];
}

/** The `TensorProto.DataType` code of an element type. */
export function elementTypeCode(type: TensorElementType): number {
  return NAMES.indexOf(type);
}
