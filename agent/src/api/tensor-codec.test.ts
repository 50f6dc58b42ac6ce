import { describe, expect, it } from 'vitest';
import { TENSOR_TYPES, TYPED_ARRAYS, type TensorData } from '../runtime/model-runtime.js';
import { decodeTensorFrame, encodeTensorFrame } from './tensor-frame.js';
import { tensorFromJson, tensorToJson } from './tensor-json.js';

function sampleTensor(type: (typeof TENSOR_TYPES)[number], dims: number[]): TensorData {
  const data = new TYPED_ARRAYS[type](dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    if (data instanceof BigInt64Array) data[i] = BigInt(i) * -3n;
    else if (data instanceof BigUint64Array) data[i] = BigInt(i) * 3n;
    else data[i] = type === 'bool' ? i % 2 : i + 1;
  }
  return { type, dims, data } as TensorData;
}

describe('tensor frames', () => {
  it('round-trips every element type, with views on the received bytes', () => {
    const tensors: Record<string, TensorData> = {};
    TENSOR_TYPES.forEach((type, i) => {
      tensors[`t_${type}`] = sampleTensor(type, [1 + (i % 3), 3]); // odd sizes exercise padding
    });
    const frame = encodeTensorFrame(tensors, { releaseId: 'r1' });
    expect(frame.length % 8).toBe(0);
    const decoded = decodeTensorFrame(frame);
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.frame.extra).toEqual({ releaseId: 'r1' });
    for (const [name, t] of Object.entries(tensors)) {
      const got = decoded.frame.tensors[name]!;
      expect(got.type).toBe(t.type);
      expect(got.dims).toEqual(t.dims);
      expect([...got.data]).toEqual([...t.data]);
      expect(got.data.buffer).toBe(frame.buffer); // no copy
    }
  });

  it('copies when the frame is not 8-byte aligned in its buffer', () => {
    const frame = encodeTensorFrame({ x: sampleTensor('float64', [2]) });
    const shifted = new Uint8Array(frame.length + 4);
    shifted.set(frame, 4);
    const decoded = decodeTensorFrame(shifted.subarray(4));
    if (!decoded.ok) throw new Error(decoded.message);
    expect([...decoded.frame.tensors.x!.data]).toEqual([1, 2]);
  });

  it('keeps an empty tensor', () => {
    const decoded = decodeTensorFrame(encodeTensorFrame({ x: sampleTensor('float32', [0, 4]) }));
    expect(decoded.ok && decoded.frame.tensors.x!.dims).toEqual([0, 4]);
  });

  const valid = encodeTensorFrame({ x: sampleTensor('float32', [1, 3]) });
  const withHeader = (header: unknown, payload = new Uint8Array(16)) => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const start = (8 + json.length + 7) & ~7;
    const out = new Uint8Array(start + payload.length);
    out.set([0x45, 0x46, 0x54, 0x42]);
    new DataView(out.buffer).setUint32(4, json.length, true);
    out.set(json, 8);
    out.set(payload, start);
    return out;
  };

  it.each([
    ['no magic', new Uint8Array(16), /no EFTB magic/],
    ['a header longer than the frame', valid.slice(0, 12), /header length/],
    ['trailing bytes', new Uint8Array([...valid, 0, 0, 0, 0, 0, 0, 0, 0]), /unexpected bytes/],
    ['a truncated buffer', valid.slice(0, valid.length - 8), /past the end/],
    [
      'a byteLength that does not match the dims',
      withHeader({ tensors: [{ name: 'x', type: 'float32', dims: [4], byteLength: 12 }] }),
      /needs 16 bytes/,
    ],
    [
      'a tensor named twice',
      withHeader({
        tensors: [
          { name: 'x', type: 'uint8', dims: [8], byteLength: 8 },
          { name: 'x', type: 'uint8', dims: [8], byteLength: 8 },
        ],
      }),
      /appears twice/,
    ],
    [
      'an unknown type',
      withHeader({ tensors: [{ name: 'x', type: 'complex64', dims: [2], byteLength: 16 }] }),
      /invalid header at tensors.0.type/,
    ],
  ])('refuses a frame with %s', (_, frame, message) => {
    const decoded = decodeTensorFrame(frame);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.message).toMatch(message);
  });
});

describe('JSON tensors', () => {
  it('accepts NaN and infinities as strings and returns them the same way', () => {
    const parsed = tensorFromJson('x', {
      type: 'float32',
      dims: [4],
      data: [1.5, 'NaN', 'Infinity', '-Infinity'],
    });
    if (!parsed.ok) throw new Error(parsed.message);
    expect(tensorToJson(parsed.tensor).data).toEqual([1.5, 'NaN', 'Infinity', '-Infinity']);
  });

  it('takes bools as true/false or 0/1 and returns true/false', () => {
    const parsed = tensorFromJson('x', { type: 'bool', dims: [3], data: [true, 0, 1] });
    if (!parsed.ok) throw new Error(parsed.message);
    expect(tensorToJson(parsed.tensor).data).toEqual([true, false, true]);
  });

  it.each([
    ['int8', 128],
    ['uint8', -1],
    ['int32', 1.5],
    ['int64', 2 ** 53],
    ['int64', '9223372036854775808'],
    ['uint64', '-1'],
    ['float32', 'one'],
    ['bool', 2],
  ] as const)('refuses a %s value of %j, naming it', (type, value) => {
    const parsed = tensorFromJson('x', { type, dims: [1], data: [value] });
    expect(parsed).toEqual({
      ok: false,
      message: `input x: value 0 (${JSON.stringify(value)}) is not a valid ${type}`,
    });
  });

  it('keeps 64-bit extremes exact through decimal strings', () => {
    const parsed = tensorFromJson('x', {
      type: 'int64',
      dims: [3],
      data: ['-9223372036854775808', '9223372036854775807', 42],
    });
    if (!parsed.ok) throw new Error(parsed.message);
    expect(tensorToJson(parsed.tensor).data).toEqual([
      '-9223372036854775808',
      '9223372036854775807',
      42,
    ]);
  });
});
