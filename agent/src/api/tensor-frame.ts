/**
 * `application/vnd.edgefleet.tensors`: a compact binary form of named tensors for the local API,
 * so clients with large inputs (images) skip JSON number formatting and parsing.
 *
 *     offset 0    4 bytes   magic "EFTB"
 *     offset 4    4 bytes   H: byte length of the header (u32 little-endian)
 *     offset 8    H bytes   header: UTF-8 JSON
 *                             {"tensors": [{"name", "type", "dims", "byteLength"}, ...], ...}
 *                           (responses add "releaseId" and "latencyMs")
 *     then zero bytes up to the next multiple of 8
 *     then each tensor's data in header order: raw little-endian values in row-major order
 *     (bool: one byte per value; float16: IEEE half bit patterns), each followed by zero bytes up
 *     to the next multiple of 8
 *
 * The padding keeps every buffer aligned for its element type, so the decoder makes typed-array
 * views on the received bytes without copying them. The frame must end exactly after the last
 * padded buffer. Little-endian byte order is the wire order and the host order of every device
 * Edgefleet supports (x86-64, arm64); a big-endian host refuses frames rather than misreading them.
 */
import { z } from 'zod';
import {
  elementCount,
  TENSOR_TYPES,
  TYPED_ARRAYS,
  type TensorData,
  type TensorType,
} from '../runtime/model-runtime.js';

export const TENSOR_FRAME_CONTENT_TYPE = 'application/vnd.edgefleet.tensors';
const MAGIC = [0x45, 0x46, 0x54, 0x42]; // "EFTB"
const MAX_HEADER_BYTES = 1024 * 1024;

export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

const FrameHeaderSchema = z.looseObject({
  tensors: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(256),
        type: z.enum(TENSOR_TYPES as [TensorType, ...TensorType[]]),
        dims: z
          .array(
            z
              .int()
              .min(0)
              .max(2 ** 31 - 1),
          )
          .max(16),
        byteLength: z.int().min(0),
      }),
    )
    .max(1024),
});

export interface DecodedFrame {
  readonly tensors: Record<string, TensorData>;
  /** Header fields other than `tensors` (e.g. `releaseId`, `latencyMs` in responses). */
  readonly extra: Record<string, unknown>;
}

const pad8 = (n: number) => (n + 7) & ~7;

/** Encode named tensors (and extra header fields) as one frame. */
export function encodeTensorFrame(
  tensors: Readonly<Record<string, TensorData>>,
  extra: Readonly<Record<string, unknown>> = {},
): Uint8Array {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('tensor frames need a little-endian host');
  const entries = Object.entries(tensors);
  const header = new TextEncoder().encode(
    JSON.stringify({
      ...extra,
      tensors: entries.map(([name, t]) => ({
        name,
        type: t.type,
        dims: t.dims,
        byteLength: t.data.byteLength,
      })),
    }),
  );
  let total = pad8(8 + header.length);
  for (const [, t] of entries) total += pad8(t.data.byteLength);
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  let offset = pad8(8 + header.length);
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    offset += pad8(t.data.byteLength);
  }
  return out;
}

/**
 * Decode a frame. The typed arrays are views on `frame`'s buffer (no copy) when `frame` starts at
 * an offset that is a multiple of 8 in its buffer, copies otherwise.
 */
export function decodeTensorFrame(
  frame: Uint8Array,
): { ok: true; frame: DecodedFrame } | { ok: false; message: string } {
  const bad = (message: string) => ({ ok: false as const, message: `tensor frame: ${message}` });
  if (!HOST_IS_LITTLE_ENDIAN) return bad('this host is big-endian and cannot read frames');
  if (frame.length < 8 || MAGIC.some((b, i) => frame[i] !== b)) return bad('no EFTB magic');
  const headerLength = new DataView(frame.buffer, frame.byteOffset, 8).getUint32(4, true);
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > frame.length) {
    return bad(`header length ${headerLength} does not fit the frame`);
  }
  let json: unknown;
  try {
    json = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(8, 8 + headerLength)),
    );
  } catch {
    return bad('the header is not UTF-8 JSON');
  }
  const header = FrameHeaderSchema.safeParse(json);
  if (!header.success) {
    const issue = header.error.issues[0];
    return bad(`invalid header at ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`);
  }
  const aligned = frame.byteOffset % 8 === 0;
  const tensors: Record<string, TensorData> = {};
  let offset = pad8(8 + headerLength);
  for (const entry of header.data.tensors) {
    if (Object.hasOwn(tensors, entry.name)) return bad(`tensor ${entry.name} appears twice`);
    const Array_ = TYPED_ARRAYS[entry.type];
    const count = elementCount(entry.dims);
    if (entry.byteLength !== count * Array_.BYTES_PER_ELEMENT) {
      return bad(
        `tensor ${entry.name}: ${entry.type} [${entry.dims.join(', ')}] needs ${count * Array_.BYTES_PER_ELEMENT} bytes, byteLength says ${entry.byteLength}`,
      );
    }
    if (offset + entry.byteLength > frame.length) {
      return bad(`tensor ${entry.name} runs past the end of the frame`);
    }
    const data = aligned
      ? new Array_(frame.buffer as ArrayBuffer, frame.byteOffset + offset, count)
      : new Array_(frame.slice(offset, offset + entry.byteLength).buffer, 0, count);
    tensors[entry.name] = { type: entry.type, dims: entry.dims, data } as TensorData;
    offset += pad8(entry.byteLength);
  }
  if (offset !== frame.length) {
    return bad(`${frame.length - offset} unexpected bytes after the last tensor`);
  }
  const { tensors: _, ...extra } = header.data;
  return { ok: true, frame: { tensors, extra } };
}
