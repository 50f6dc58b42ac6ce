/**
 * A minimal Protocol Buffers wire-format reader and writer: just what reading and writing ONNX model
 * files needs (https://protobuf.dev/programming-guides/encoding/).
 *
 * The reader is built for untrusted bytes: it returns `Result` failures (`EF_MALFORMED`) and never
 * throws, it does not recurse (nested messages are handed back as byte views for the caller to scan,
 * so the caller owns and caps the nesting depth), and it never copies payloads: a length-delimited
 * field is a `subarray` view, so skipping a 1 GB `raw_data` costs nothing. Everything it allocates is
 * proportional to the bytes it is given.
 *
 * The writer is for bytes we produce ourselves; it throws `RangeError` on arguments that cannot be
 * encoded (programming mistakes), like any other constructor of invalid data.
 */
import { fail, ok, type Failure, type Result } from '../errors.js';

/** The wire types that carry data. Groups (3, 4) are deprecated and refused; 6 and 7 do not exist. */
export const WireType = { Varint: 0, Fixed64: 1, LengthDelimited: 2, Fixed32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** Largest field number protobuf allows (2^29 - 1). */
export const MAX_FIELD_NUMBER = 0x1fffffff;

/** A varint field; the value is the raw unsigned 64-bit integer (see `toInt64`, `toSafeInteger`). */
export interface VarintField {
  readonly field: number;
  readonly wireType: typeof WireType.Varint;
  readonly value: bigint;
}

/** A fixed-size or length-delimited field; `bytes` is a view into the input, not a copy. */
export interface BytesField {
  readonly field: number;
  readonly wireType:
    typeof WireType.Fixed64 | typeof WireType.LengthDelimited | typeof WireType.Fixed32;
  readonly bytes: Uint8Array;
}

export type ProtoField = VarintField | BytesField;

/** What a field visitor returns: nothing to go on, or a failure to stop the scan with. */
export type VisitResult = Failure | undefined;

const MAX_VARINT_BYTES = 10;

interface Varint {
  readonly value: bigint;
  readonly next: number;
}

/** Read one varint at `pos`; undefined when truncated or longer than 64 bits. */
function readVarint(bytes: Uint8Array, pos: number): Varint | undefined {
  // Fast path in float arithmetic while the value is below 2^49 (exact), BigInt only beyond.
  let low = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const b = bytes[pos + i];
    if (b === undefined) return undefined;
    low += (b & 0x7f) * scale;
    if (b < 0x80) return { value: BigInt(low), next: pos + i + 1 };
    scale *= 128;
  }
  let value = BigInt(low);
  for (let i = 7; i < MAX_VARINT_BYTES; i++) {
    const b = bytes[pos + i];
    if (b === undefined) return undefined;
    // The tenth byte may only carry the 64th bit.
    if (i === MAX_VARINT_BYTES - 1 && b > 1) return undefined;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return { value, next: pos + i + 1 };
  }
  return undefined;
}

function malformed(message: string, offset: number): Failure {
  return fail('EF_MALFORMED', message, { offset });
}

/**
 * Scan the fields of one message, in order, calling `visit` for each. Stops at the first failure
 * (from the wire format or from `visit`) and returns it; otherwise returns the number of fields.
 */
export function forEachField(
  bytes: Uint8Array,
  visit: (field: ProtoField) => VisitResult,
): Result<number> {
  let pos = 0;
  let count = 0;
  while (pos < bytes.length) {
    const tag = readVarint(bytes, pos);
    if (tag === undefined) return malformed('truncated or overlong field tag', pos);
    if (tag.value > 0xffffffffn) return malformed('field tag does not fit in 32 bits', pos);
    const tagValue = Number(tag.value);
    const field = Math.floor(tagValue / 8);
    const wireType = tagValue & 7;
    if (field === 0) return malformed('field number 0 is not allowed', pos);
    if (field > MAX_FIELD_NUMBER) return malformed(`field number ${field} is too large`, pos);
    pos = tag.next;
    let result: VisitResult;
    switch (wireType) {
      case WireType.Varint: {
        const v = readVarint(bytes, pos);
        if (v === undefined) return malformed(`field ${field}: truncated or overlong varint`, pos);
        pos = v.next;
        result = visit({ field, wireType, value: v.value });
        break;
      }
      case WireType.Fixed64:
      case WireType.Fixed32: {
        const size = wireType === WireType.Fixed64 ? 8 : 4;
        if (pos + size > bytes.length) return malformed(`field ${field}: truncated fixed`, pos);
        result = visit({ field, wireType, bytes: bytes.subarray(pos, pos + size) });
        pos += size;
        break;
      }
      case WireType.LengthDelimited: {
        const len = readVarint(bytes, pos);
        if (len === undefined) return malformed(`field ${field}: truncated length`, pos);
        if (len.value > BigInt(bytes.length - len.next)) {
          return malformed(`field ${field}: length ${len.value} runs past the end`, pos);
        }
        const start = len.next;
        const end = start + Number(len.value);
        result = visit({ field, wireType, bytes: bytes.subarray(start, end) });
        pos = end;
        break;
      }
      case 3:
      case 4:
        return malformed(`field ${field}: groups (wire types 3 and 4) are not supported`, pos);
      default:
        return malformed(`field ${field}: invalid wire type ${wireType}`, pos);
    }
    if (result !== undefined) return result;
    count++;
  }
  return ok(count);
}

/** Decode every field of one message into a list (for small messages and tests). */
export function decodeFields(bytes: Uint8Array): Result<ProtoField[]> {
  const fields: ProtoField[] = [];
  const scanned = forEachField(bytes, (f) => {
    fields.push(f);
    return undefined;
  });
  return scanned.ok ? ok(fields) : scanned;
}

/** Decode a packed run of varints (a `repeated int64 ... [packed = true]` payload). */
export function decodePackedVarints(bytes: Uint8Array): Result<bigint[]> {
  const values: bigint[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const v = readVarint(bytes, pos);
    if (v === undefined) return malformed('truncated or overlong varint in packed field', pos);
    values.push(v.value);
    pos = v.next;
  }
  return ok(values);
}

/** Decode a packed run of little-endian float32 values. */
export function decodePackedFloats(bytes: Uint8Array): Result<number[]> {
  return decodePackedFixed(bytes, 4, (view, i) => view.getFloat32(i, true));
}

/** Decode a packed run of little-endian float64 values. */
export function decodePackedDoubles(bytes: Uint8Array): Result<number[]> {
  return decodePackedFixed(bytes, 8, (view, i) => view.getFloat64(i, true));
}

function decodePackedFixed(
  bytes: Uint8Array,
  size: number,
  read: (view: DataView, offset: number) => number,
): Result<number[]> {
  if (bytes.length % size !== 0) {
    return malformed(`packed field length ${bytes.length} is not a multiple of ${size}`, 0);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: number[] = [];
  for (let i = 0; i < bytes.length; i += size) values.push(read(view, i));
  return ok(values);
}

/**
 * Append the values of a repeated varint field to `out`, accepting both encodings a parser must
 * accept: one varint per field occurrence, or a packed length-delimited run.
 */
export function collectRepeatedVarints(field: ProtoField, out: bigint[]): VisitResult {
  if (field.wireType === WireType.Varint) {
    out.push(field.value);
    return undefined;
  }
  if (field.wireType !== WireType.LengthDelimited) {
    return malformed(`field ${field.field}: expected varints, got wire type ${field.wireType}`, 0);
  }
  const values = decodePackedVarints(field.bytes);
  if (!values.ok) return values;
  for (const v of values.value) out.push(v);
  return undefined;
}

/** The varint as a signed 64-bit integer (how `int64` fields encode negative numbers). */
export function toInt64(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

/** The varint read as `int64`, as a number when it is a safe integer; undefined otherwise. */
export function toSafeInteger(value: bigint): number | undefined {
  const signed = BigInt.asIntN(64, value);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(signed)
    : undefined;
}

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** Decode a `string` field; invalid UTF-8 becomes U+FFFD, as protobuf's proto2 parsers allow. */
export function decodeString(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Read a fixed32 field as a little-endian float32. */
export function decodeFloat32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat32(0, true);
}

/** Largest message the writer produces: protobuf's own 2 GiB limit. */
const MAX_WRITER_BYTES = 0x7fffffff;
const UINT64_LIMIT = 1n << 64n;
const INT64_MIN = -(1n << 63n);

/**
 * Writes one protobuf message. Fields are written in call order; nested messages are written with
 * `message(field, build)`.
 */
export class ProtoWriter {
  #buf = new Uint8Array(64);
  #len = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /**
   * A varint field (`int32`, `int64`, `uint64`, `bool`, enums). Negative values are written as
   * 64-bit two's complement (10 bytes), as protobuf does for `int32` and `int64`.
   */
  varint(field: number, value: number | bigint | boolean): this {
    this.#tag(field, WireType.Varint);
    this.#rawVarint(value);
    return this;
  }

  /** A `fixed32` field holding a float32. */
  float(field: number, value: number): this {
    this.#tag(field, WireType.Fixed32);
    new DataView(this.#reserve(4).buffer).setFloat32(this.#len - 4, value, true);
    return this;
  }

  /** A `fixed64` field holding a float64. */
  double(field: number, value: number): this {
    this.#tag(field, WireType.Fixed64);
    new DataView(this.#reserve(8).buffer).setFloat64(this.#len - 8, value, true);
    return this;
  }

  /** A `fixed32` field holding an unsigned 32-bit integer. */
  fixed32(field: number, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`fixed32 value ${value} is out of range`);
    }
    this.#tag(field, WireType.Fixed32);
    new DataView(this.#reserve(4).buffer).setUint32(this.#len - 4, value, true);
    return this;
  }

  /** A `fixed64` field holding an unsigned (or two's-complement signed) 64-bit integer. */
  fixed64(field: number, value: bigint): this {
    this.#tag(field, WireType.Fixed64);
    new DataView(this.#reserve(8).buffer).setBigUint64(this.#len - 8, uint64(value), true);
    return this;
  }

  /** A `bytes` field. */
  bytes(field: number, data: Uint8Array): this {
    this.#tag(field, WireType.LengthDelimited);
    this.#rawVarint(data.length);
    this.#reserve(data.length).set(data, this.#len - data.length);
    return this;
  }

  /** A `string` field, UTF-8 encoded. */
  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  /** An embedded message field, built by `build` on a fresh writer. */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated varint field. */
  packedVarints(field: number, values: Iterable<number | bigint>): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.#rawVarint(v);
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated float32 field. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    return this.bytes(field, encodeFloats(values, 4));
  }

  /** A packed repeated float64 field. */
  packedDoubles(field: number, values: ArrayLike<number>): this {
    return this.bytes(field, encodeFloats(values, 8));
  }

  /** The message bytes (a copy; the writer may be reused). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }

  #tag(field: number, wireType: WireType): void {
    if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD_NUMBER) {
      throw new RangeError(`invalid protobuf field number ${field}`);
    }
    this.#rawVarint(field * 8 + wireType);
  }

  #rawVarint(value: number | bigint | boolean): void {
    if (typeof value === 'boolean') {
      this.#reserve(1)[this.#len - 1] = value ? 1 : 0;
      return;
    }
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) {
        throw new RangeError(`varint value ${value} is not a safe integer (use a bigint)`);
      }
      if (value >= 0) {
        this.#unsignedVarint(value);
        return;
      }
    }
    let v = uint64(BigInt(value));
    while (v >= 0x80n) {
      this.#byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#byte(Number(v));
  }

  #unsignedVarint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.#byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.#byte(v);
  }

  #byte(b: number): void {
    this.#reserve(1)[this.#len - 1] = b;
  }

  /** Grow by `n` bytes and return the buffer (the new bytes end at `#len`). */
  #reserve(n: number): Uint8Array {
    const needed = this.#len + n;
    if (needed > MAX_WRITER_BYTES) throw new RangeError('protobuf message larger than 2 GiB');
    if (needed > this.#buf.length) {
      const grown = new Uint8Array(
        Math.min(MAX_WRITER_BYTES, Math.max(needed, this.#buf.length * 2)),
      );
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#len = needed;
    return this.#buf;
  }
}

function uint64(value: bigint): bigint {
  if (value < INT64_MIN || value >= UINT64_LIMIT) {
    throw new RangeError(`value ${value} does not fit in 64 bits`);
  }
  return BigInt.asUintN(64, value);
}

/** Little-endian float32 (size 4) or float64 (size 8) bytes, whatever the platform's byte order. */
export function encodeFloats(values: ArrayLike<number>, size: 4 | 8): Uint8Array {
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (size === 4) view.setFloat32(i * 4, v, true);
    else view.setFloat64(i * 8, v, true);
  }
  return out;
}
