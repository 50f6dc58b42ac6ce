/**
 * Tensors in JSON, as the local API takes and returns them: `{type, dims, data}` with `data` a flat
 * row-major array. JSON has no NaN, infinities or 64-bit integers, so:
 * - float values may be given (and are returned) as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
 * - int64/uint64 values may be numbers (safe integers) or decimal strings; outputs are numbers when
 *   they are safe integers and decimal strings otherwise;
 * - bool values are `true`/`false` (inputs also accept 0/1).
 */
import { z } from 'zod';
import {
  elementCount,
  TENSOR_TYPES,
  TYPED_ARRAYS,
  type TensorData,
  type TensorType,
} from '../runtime/model-runtime.js';

export const JsonTensorSchema = z.strictObject({
  type: z.enum(TENSOR_TYPES as [TensorType, ...TensorType[]]),
  dims: z
    .array(
      z
        .int()
        .min(0)
        .max(2 ** 31 - 1),
    )
    .max(16),
  data: z.array(z.union([z.number(), z.string().max(32), z.boolean()])),
});
export type JsonTensor = z.infer<typeof JsonTensorSchema>;

export const InferJsonRequestSchema = z.strictObject({
  inputs: z.record(z.string().min(1).max(256), JsonTensorSchema),
});

type JsonValue = number | string | boolean;

const INTEGER_RANGES: Partial<Record<TensorType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

/**
 * Convert a JSON tensor into typed data, checking that the value count matches the dims and that
 * each value fits the type. Returns an error message naming the offending value otherwise.
 */
export function tensorFromJson(
  name: string,
  tensor: JsonTensor,
): { ok: true; tensor: TensorData } | { ok: false; message: string } {
  const count = elementCount(tensor.dims);
  if (tensor.data.length !== count) {
    return {
      ok: false,
      message: `input ${name}: dims [${tensor.dims.join(', ')}] hold ${count} values, data has ${tensor.data.length}`,
    };
  }
  const type = tensor.type;
  const out = new TYPED_ARRAYS[type](count);
  for (let i = 0; i < count; i++) {
    const parsed = parseValue(type, tensor.data[i]!);
    if (parsed === undefined) {
      return {
        ok: false,
        message: `input ${name}: value ${i} (${JSON.stringify(tensor.data[i])}) is not a valid ${type}`,
      };
    }
    out[i] = parsed;
  }
  return { ok: true, tensor: { type, dims: tensor.dims, data: out } as TensorData };
}

function parseValue(type: TensorType, value: JsonValue): number | bigint | undefined {
  switch (type) {
    case 'float32':
    case 'float64':
      return parseFloatValue(value);
    case 'float16':
      // Raw IEEE half bit patterns (what onnxruntime's Uint16Array holds).
      return parseIntegerValue(value, 0, 65535);
    case 'bool':
      if (typeof value === 'boolean') return value ? 1 : 0;
      return value === 0 || value === 1 ? value : undefined;
    case 'int64':
    case 'uint64':
      return parseBigIntValue(type, value);
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32': {
      const [min, max] = INTEGER_RANGES[type]!;
      return parseIntegerValue(value, min, max);
    }
  }
}

function parseFloatValue(value: JsonValue): number | undefined {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return undefined;
}

function parseIntegerValue(value: JsonValue, min: number, max: number): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
    ? value
    : undefined;
}

function parseBigIntValue(type: 'int64' | 'uint64', value: JsonValue): bigint | undefined {
  let big: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return undefined;
    big = BigInt(value);
  } else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) {
    big = BigInt(value);
  } else {
    return undefined;
  }
  const fits = type === 'int64' ? BigInt.asIntN(64, big) === big : BigInt.asUintN(64, big) === big;
  return fits ? big : undefined;
}

/** Convert typed data into a JSON tensor (see the module comment for NaN, 64-bit and bool values). */
export function tensorToJson(tensor: TensorData): JsonTensor {
  const n = tensor.data.length;
  const data = new Array<JsonValue>(n);
  if (tensor.type === 'int64' || tensor.type === 'uint64') {
    for (let i = 0; i < n; i++) {
      const v = tensor.data[i]!;
      const asNumber = Number(v);
      data[i] = Number.isSafeInteger(asNumber) ? asNumber : v.toString();
    }
  } else if (tensor.type === 'bool') {
    for (let i = 0; i < n; i++) data[i] = tensor.data[i] !== 0;
  } else if (tensor.type === 'float32' || tensor.type === 'float64') {
    for (let i = 0; i < n; i++) data[i] = jsonFloat(tensor.data[i]!);
  } else {
    for (let i = 0; i < n; i++) data[i] = tensor.data[i]!;
  }
  return { type: tensor.type, dims: [...tensor.dims], data };
}

function jsonFloat(v: number): number | string {
  if (Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return 'NaN';
  return v > 0 ? 'Infinity' : '-Infinity';
}
