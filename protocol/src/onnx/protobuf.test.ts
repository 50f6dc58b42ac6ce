import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  collectRepeatedVarints,
  decodeFields,
  decodeFloat32,
  decodePackedDoubles,
  decodePackedFloats,
  decodePackedVarints,
  decodeString,
  forEachField,
  ProtoWriter,
  toInt64,
  toSafeInteger,
  WireType,
  type ProtoField,
} from './protobuf.js';

function fields(bytes: Uint8Array): ProtoField[] {
  const decoded = decodeFields(bytes);
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.value;
}

function varintOf(bytes: Uint8Array): bigint {
  const [f] = fields(bytes);
  if (f?.wireType !== WireType.Varint) throw new Error('not a varint field');
  return f.value;
}

describe('protobuf varints', () => {
  it('round-trips boundary values through 64 bits', () => {
    const values = [
      0n,
      1n,
      127n,
      128n,
      300n,
      2n ** 32n,
      2n ** 49n - 1n,
      2n ** 49n,
      2n ** 63n,
      2n ** 64n - 1n,
    ];
    for (const v of values) expect(varintOf(new ProtoWriter().varint(1, v).finish())).toBe(v);
  });

  it('encodes 300 as the spec example bytes', () => {
    expect([...new ProtoWriter().varint(1, 300).finish()]).toEqual([0x08, 0xac, 0x02]);
  });

  it('writes negative int64 as ten-byte two’s complement and reads it back', () => {
    const bytes = new ProtoWriter().varint(1, -1).finish();
    expect(bytes.length).toBe(11);
    const raw = varintOf(bytes);
    expect(toInt64(raw)).toBe(-1n);
    expect(toSafeInteger(raw)).toBe(-1);
  });

  it('round-trips any safe integer and any 64-bit bigint', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(toSafeInteger(varintOf(new ProtoWriter().varint(7, n).finish()))).toBe(n);
      }),
      { seed: 11, numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        expect(toInt64(varintOf(new ProtoWriter().varint(7, n).finish()))).toBe(n);
      }),
      { seed: 12, numRuns: 500 },
    );
  });

  it('reports values beyond the safe range as not a safe integer', () => {
    expect(toSafeInteger(2n ** 60n)).toBeUndefined();
  });

  it('refuses to write what does not fit', () => {
    expect(() => new ProtoWriter().varint(1, 2n ** 64n)).toThrow(RangeError);
    expect(() => new ProtoWriter().varint(1, 1.5)).toThrow(RangeError);
    expect(() => new ProtoWriter().varint(0, 1)).toThrow(RangeError);
    expect(() => new ProtoWriter().varint(2 ** 29, 1)).toThrow(RangeError);
  });
});

describe('protobuf fields', () => {
  it('reads back every wire type in order, with nested messages as views', () => {
    const bytes = new ProtoWriter()
      .varint(1, 150)
      .string(2, 'héllo')
      .float(3, 1.5)
      .double(4, -2.25)
      .fixed32(5, 0xdeadbeef)
      .fixed64(6, 2n ** 63n + 5n)
      .message(7, (m) => m.varint(1, true).string(2, 'inner'))
      .bytes(8, new Uint8Array([9, 8, 7]))
      .finish();
    const f = fields(bytes);
    expect(f.map((x) => [x.field, x.wireType])).toEqual([
      [1, 0],
      [2, 2],
      [3, 5],
      [4, 1],
      [5, 5],
      [6, 1],
      [7, 2],
      [8, 2],
    ]);
    const get = (i: number): Uint8Array => {
      const x = f[i]!;
      if (x.wireType === WireType.Varint) throw new Error('varint');
      return x.bytes;
    };
    expect(decodeString(get(1))).toBe('héllo');
    expect(decodeFloat32(get(2))).toBe(1.5);
    expect(new DataView(get(3).buffer, get(3).byteOffset).getFloat64(0, true)).toBe(-2.25);
    expect(new DataView(get(4).buffer, get(4).byteOffset).getUint32(0, true)).toBe(0xdeadbeef);
    expect(new DataView(get(5).buffer, get(5).byteOffset).getBigUint64(0, true)).toBe(
      2n ** 63n + 5n,
    );
    const inner = fields(get(6));
    expect(inner).toHaveLength(2);
    expect(inner[0]).toEqual({ field: 1, wireType: 0, value: 1n });
    // Length-delimited payloads are views into the input, not copies.
    expect(get(7).buffer).toBe(bytes.buffer);
    expect([...get(7)]).toEqual([9, 8, 7]);
  });

  it('round-trips packed varints, floats and doubles', () => {
    const ints = [0, 1, 300, -5, 2 ** 40];
    const bytes = new ProtoWriter()
      .packedVarints(1, ints)
      .packedFloats(2, [0.5, -1, 3.25])
      .packedDoubles(3, [Math.PI, -0])
      .finish();
    const [a, b, c] = fields(bytes);
    if (a?.wireType !== 2 || b?.wireType !== 2 || c?.wireType !== 2) throw new Error('not packed');
    const decoded = decodePackedVarints(a.bytes);
    expect(decoded.ok && decoded.value.map(toSafeInteger)).toEqual(ints);
    expect(decodePackedFloats(b.bytes)).toEqual({ ok: true, value: [0.5, -1, 3.25] });
    expect(decodePackedDoubles(c.bytes)).toEqual({ ok: true, value: [Math.PI, -0] });
  });

  it('collects a repeated varint field written packed or unpacked alike', () => {
    const unpacked = new ProtoWriter().varint(1, 3).varint(1, 4).finish();
    const packed = new ProtoWriter().packedVarints(1, [3, 4]).finish();
    for (const bytes of [unpacked, packed]) {
      const out: bigint[] = [];
      for (const f of fields(bytes)) expect(collectRepeatedVarints(f, out)).toBeUndefined();
      expect(out).toEqual([3n, 4n]);
    }
  });

  it('stops the scan at the first failure a visitor returns', () => {
    const bytes = new ProtoWriter().varint(1, 1).varint(2, 2).varint(3, 3).finish();
    const seen: number[] = [];
    const result = forEachField(bytes, (f) => {
      seen.push(f.field);
      return f.field === 2 ? { ok: false, code: 'EF_MALFORMED', message: 'stop' } : undefined;
    });
    expect(result).toEqual({ ok: false, code: 'EF_MALFORMED', message: 'stop' });
    expect(seen).toEqual([1, 2]);
  });
});

describe('protobuf reader on hostile bytes', () => {
  const cases: [string, number[]][] = [
    ['a truncated tag', [0x80]],
    ['a truncated varint', [0x08, 0xff]],
    ['an 11-byte varint', [0x08, ...Array<number>(10).fill(0xff), 0x01]],
    ['a tenth varint byte above 1', [0x08, ...Array<number>(9).fill(0xff), 0x02]],
    ['a length past the end', [0x12, 0x05, 0x01]],
    ['a huge length', [0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ['a truncated fixed32', [0x1d, 0x00, 0x00]],
    ['a truncated fixed64', [0x19, 0x00]],
    ['field number 0', [0x00, 0x01]],
    ['a start-group wire type', [0x0b]],
    ['an end-group wire type', [0x0c]],
    ['wire type 6', [0x0e]],
    ['wire type 7', [0x0f]],
    ['a tag above 32 bits', [0xff, 0xff, 0xff, 0xff, 0x7f]],
  ];
  it.each(cases)('fails on %s', (_name, bytes) => {
    const result = decodeFields(Uint8Array.from(bytes));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.code).toBe('EF_MALFORMED');
  });

  it('fails on packed data of the wrong length', () => {
    expect(decodePackedFloats(new Uint8Array(3)).ok).toBe(false);
    expect(decodePackedDoubles(new Uint8Array(9)).ok).toBe(false);
    expect(decodePackedVarints(Uint8Array.from([0x80])).ok).toBe(false);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const result = decodeFields(bytes);
        if (result.ok) for (const f of result.value) expect(f.field).toBeGreaterThan(0);
        decodePackedVarints(bytes);
        decodePackedFloats(bytes);
      }),
      { seed: 42, numRuns: 3000 },
    );
  });
});
