import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBase64 } from './base64.js';
import { KLL_MAX_BYTES, KllSketch } from './kll.js';
import { createRandom, nextNormal } from './random.js';

const GRID = Array.from({ length: 101 }, (_, i) => i / 100);

function sketchOf(values: Iterable<number>, seed = 1, k = 200): KllSketch {
  const s = new KllSketch({ k, random: createRandom(seed) });
  for (const x of values) s.update(x);
  return s;
}

function normals(n: number, seed: number): number[] {
  const r = createRandom(seed);
  return Array.from({ length: n }, () => nextNormal(r));
}

function expectSameAnswers(a: KllSketch, b: KllSketch): void {
  expect(b.n).toBe(a.n);
  expect(b.k).toBe(a.k);
  expect(b.min).toBe(a.min);
  expect(b.max).toBe(a.max);
  expect(b.numRetained).toBe(a.numRetained);
  expect(b.numLevels).toBe(a.numLevels);
  expect(b.quantiles(GRID)).toEqual(a.quantiles(GRID));
  const points = a.quantiles(GRID.slice(1, -1));
  expect(points.map((x) => b.rank(x))).toEqual(points.map((x) => a.rank(x)));
}

/** Little-endian writer for crafting encodings by hand (layout in `KllSketch.toBytes`). */
function craft(fields: {
  version?: number;
  flags?: number;
  k?: number;
  levels?: number;
  n: number;
  sizes: number[];
  items: number[];
}): Uint8Array {
  const out: number[] = [
    fields.version ?? 1,
    fields.flags ?? 0,
    (fields.k ?? 200) & 255,
    (fields.k ?? 200) >>> 8,
    fields.levels ?? fields.sizes.length,
  ];
  const varint = (x: number): void => {
    while (x >= 128) {
      out.push((x % 128) | 128);
      x = Math.floor(x / 128);
    }
    out.push(x);
  };
  varint(fields.n);
  fields.sizes.forEach(varint);
  const f32 = ((fields.flags ?? 0) & 1) === 1;
  const buf = new DataView(new ArrayBuffer(fields.items.length * (f32 ? 4 : 8)));
  fields.items.forEach((x, i) => {
    if (f32) buf.setFloat32(4 * i, x, true);
    else buf.setFloat64(8 * i, x, true);
  });
  return new Uint8Array([...out, ...new Uint8Array(buf.buffer)]);
}

function expectFailure(bytes: Uint8Array, code: string): void {
  const r = KllSketch.fromBytes(bytes);
  expect(r.ok, r.ok ? 'decoded' : r.message).toBe(false);
  if (!r.ok) expect(r.code).toBe(code);
}

describe('KllSketch binary form', () => {
  it('round-trips through bytes and base64 with identical answers', () => {
    for (const n of [0, 1, 150, 5_000, 200_000]) {
      const s = sketchOf(normals(n, n), 3);
      const bytes = s.toBytes();
      const back = KllSketch.fromBytes(bytes, { random: createRandom(4) });
      expect(back.ok).toBe(true);
      if (!back.ok) continue;
      expectSameAnswers(s, back.value);
      expect(back.value.toBytes()).toEqual(bytes);
      const text = s.toBase64();
      expect(text).toBe(encodeBase64(bytes));
      const fromText = KllSketch.fromBase64(text);
      expect(fromText.ok && fromText.value.toBytes()).toEqual(bytes);
    }
  });

  it('keeps working after decoding: updates and merges', () => {
    const s = sketchOf(normals(20_000, 5), 5);
    const back = KllSketch.fromBytes(s.toBytes(), { random: createRandom(6) });
    if (!back.ok) throw new Error(back.message);
    const d = back.value;
    for (const x of normals(20_000, 6)) d.update(x);
    d.merge(s);
    expect(d.n).toBe(60_000);
    expect(Math.abs(d.quantile(0.5))).toBeLessThan(0.05);
  });

  it('stays consistent when a decoded sketch compacts or merges first thing (buffers made on demand)', () => {
    // Decoded sketches get their second (merge) buffer only when they need it: every compaction and
    // merge after decoding must still keep all the weight, in sorted levels (fromBytes checks both).
    const consistent = (s: KllSketch) => {
      const again = KllSketch.fromBytes(s.toBytes());
      expect(again.ok && again.value.n).toBe(s.n);
    };
    for (const k of [8, 20, 200]) {
      const full = sketchOf(normals(50 * k, k), k, k);
      const decode = () => {
        const d = KllSketch.fromBytes(full.toBytes(), { random: createRandom(k + 1) });
        if (!d.ok) throw new Error(d.message);
        return d.value;
      };
      const updated = decode();
      for (const [i, x] of normals(10 * k, k + 2).entries()) {
        updated.update(x);
        if (i % 7 === 0) consistent(updated);
      }
      expect(updated.n).toBe(60 * k);
      const merged = decode();
      merged.merge(decode());
      merged.merge(updated);
      consistent(merged);
      expect(merged.n).toBe(160 * k);
      const into = decode();
      into.merge(new KllSketch({ k }));
      for (const x of normals(3 * k, k + 3)) into.update(x);
      consistent(into);
      expect(into.n).toBe(53 * k);
    }
  });

  it('sizes a decoded buffer by its input and grows it on the first update', () => {
    const decoded = KllSketch.fromBytes(sketchOf([2, 1], 1, 65535).toBytes());
    if (!decoded.ok) throw new Error(decoded.message);
    const s = decoded.value;
    expect(s.k).toBe(65535);
    for (const x of normals(70_000, 14)) s.update(x);
    expect(s.n).toBe(70_002);
    expect(s.numLevels).toBe(2);
    expect(Math.abs(s.quantile(0.5))).toBeLessThan(0.02);
  });

  it('stores float32 values in 4 bytes and anything else losslessly in 8', () => {
    const f32 = sketchOf(normals(10_000, 7).map(Math.fround));
    const f64 = sketchOf(normals(10_000, 7));
    const b32 = f32.toBytes();
    const b64 = f64.toBytes();
    expect(b32[1]).toBe(1);
    expect(b64[1]).toBe(0);
    expect(b32.length).toBeLessThan(0.55 * b64.length);
    const exact = sketchOf([0.1, 1 / 3, Math.PI, -1e-300, 1e300]);
    const back = KllSketch.fromBytes(exact.toBytes());
    expect(back.ok && back.value.quantiles([0, 0.2, 0.4, 0.6, 0.8, 1])).toEqual([
      -1e-300,
      -1e-300,
      0.1,
      1 / 3,
      Math.PI,
      1e300,
    ]);
  });

  it('is small: k = 200 and n = 1e6 fits well below 4 KB for float32 data', () => {
    const r = createRandom(8);
    const s32 = new KllSketch({ random: createRandom(9) });
    const s64 = new KllSketch({ random: createRandom(9) });
    for (let i = 0; i < 1_000_000; i++) {
      const x = 50 + 10 * nextNormal(r);
      s32.update(Math.fround(x));
      s64.update(x);
    }
    const size32 = s32.toBytes().length;
    const size64 = s64.toBytes().length;
    console.info(
      `KLL k=200 n=1e6: ${s32.numRetained} items retained; ${size32} bytes (float32 data), ` +
        `${size64} bytes (float64 data), base64 ${s32.toBase64().length} chars`,
    );
    expect(size32).toBeLessThan(3000);
    expect(size64).toBeLessThan(5500);
  });
});

describe('KllSketch.fromBytes rejects bad input', () => {
  const valid = sketchOf(normals(3_000, 10)).toBytes();

  it('accepts a hand-made encoding of the documented layout', () => {
    // Level 0 holds 3 (weight 1), level 1 holds 8 (weight 2): n = 3 + 16 = 19.
    const items = [1, 3, 5, 0, 1, 2, 3, 4, 5, 6, 7];
    const r = KllSketch.fromBytes(craft({ n: 19, sizes: [3, 8], items: [0, 7, ...items] }));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.n).toBe(19);
      expect(r.value.rank(0)).toBeCloseTo(2 / 19, 12);
      expect(r.value.rank(1)).toBeCloseTo(5 / 19, 12);
    }
  });

  it('rejects every truncation and any extension', () => {
    for (let len = 0; len < valid.length; len++)
      expectFailure(valid.subarray(0, len), 'EF_MALFORMED');
    expectFailure(new Uint8Array([...valid, 0]), 'EF_MALFORMED');
    expectFailure(new Uint8Array([...valid, ...new Uint8Array(8)]), 'EF_MALFORMED');
  });

  it('rejects another version and unknown flags', () => {
    expectFailure(new Uint8Array([2, ...valid.subarray(1)]), 'EF_UNSUPPORTED_VERSION');
    expectFailure(new Uint8Array([0, ...valid.subarray(1)]), 'EF_UNSUPPORTED_VERSION');
    expectFailure(new Uint8Array([1, 4, ...valid.subarray(2)]), 'EF_MALFORMED');
  });

  it('rejects k and level counts out of range', () => {
    expectFailure(craft({ k: 7, n: 1, sizes: [1], items: [1, 1, 1] }), 'EF_MALFORMED');
    expectFailure(craft({ levels: 0, n: 0, sizes: [], items: [] }), 'EF_MALFORMED');
    expectFailure(craft({ levels: 61, n: 0, sizes: [], items: [] }), 'EF_MALFORMED');
    expectFailure(craft({ levels: 2, n: 1, sizes: [1], items: [1, 1, 1] }), 'EF_MALFORMED');
  });

  it('rejects absurd counts before allocating anything', () => {
    expectFailure(craft({ n: 2 ** 40, sizes: [2 ** 40], items: [] }), 'EF_TOO_LARGE');
    expectFailure(craft({ n: 2 ** 53, sizes: [1], items: [] }), 'EF_MALFORMED');
    expectFailure(craft({ n: 600_000, sizes: [600_000, 600_000], items: [] }), 'EF_TOO_LARGE');
    // More items than the levels can hold (capacity of one level is k).
    expectFailure(
      craft({ k: 8, n: 9, sizes: [9], items: new Array<number>(11).fill(1) }),
      'EF_MALFORMED',
    );
    expectFailure(new Uint8Array(KLL_MAX_BYTES + 1), 'EF_TOO_LARGE');
    // A varint that never ends, and a non-minimal one.
    expectFailure(
      new Uint8Array([1, 0, 200, 0, 1, ...new Array<number>(12).fill(0xff)]),
      'EF_MALFORMED',
    );
    expectFailure(new Uint8Array([1, 0, 200, 0, 1, 0x80, 0x00, 0]), 'EF_MALFORMED');
  });

  it('rejects n inconsistent with the levels', () => {
    expectFailure(craft({ n: 4, sizes: [3], items: [1, 3, 1, 2, 3] }), 'EF_MALFORMED');
    expectFailure(craft({ n: 0, sizes: [0, 8], items: [] }), 'EF_MALFORMED');
    expectFailure(craft({ n: 17, sizes: [0, 0, 4], items: [1, 1, 1, 1, 1, 1] }), 'EF_MALFORMED');
  });

  it('rejects non-finite values, values outside [min, max] and levels not ascending', () => {
    const base = { n: 19, sizes: [3, 8] };
    const level1 = [0, 1, 2, 3, 4, 5, 6, 7];
    expectFailure(craft({ ...base, items: [0, 7, NaN, 1, 3, ...level1] }), 'EF_MALFORMED');
    expectFailure(craft({ ...base, items: [0, 7, 1, Infinity, 3, ...level1] }), 'EF_MALFORMED');
    expectFailure(craft({ ...base, items: [NaN, 7, 1, 1, 3, ...level1] }), 'EF_MALFORMED');
    expectFailure(craft({ ...base, items: [0, -Infinity, 1, 1, 3, ...level1] }), 'EF_MALFORMED');
    expectFailure(craft({ ...base, items: [7, 0, 1, 1, 3, ...level1] }), 'EF_MALFORMED');
    expectFailure(craft({ ...base, items: [0, 7, 1, 1, 9, ...level1] }), 'EF_MALFORMED');
    expectFailure(
      craft({ ...base, items: [0, 7, 1, 1, 3, 0, 2, 1, 3, 4, 5, 6, 7] }),
      'EF_MALFORMED',
    );
    expectFailure(craft({ ...base, items: [0, 7, 3, 1, 5, ...level1] }), 'EF_MALFORMED');
    // With one level nothing was compacted away: min and max must be items.
    expectFailure(craft({ n: 2, sizes: [2], items: [0, 9, 1, 2] }), 'EF_MALFORMED');
  });

  it('rejects malformed base64', () => {
    const text = KllSketch.fromBase64('AQAAyA=');
    expect(text.ok).toBe(false);
    const notText = KllSketch.fromBase64(42 as unknown as string);
    expect(notText.ok).toBe(false);
    const notBytes = KllSketch.fromBytes([1, 0, 200, 0, 1, 0] as unknown as Uint8Array);
    expect(notBytes.ok).toBe(false);
  });
});

describe('KllSketch.fromBytes on hostile input (property)', () => {
  const samples = [
    sketchOf([]).toBytes(),
    sketchOf([1.5]).toBytes(),
    sketchOf(normals(500, 11), 2, 16).toBytes(),
    sketchOf(normals(20_000, 12).map(Math.fround)).toBytes(),
    sketchOf(normals(20_000, 13), 3, 8).toBytes(),
  ];

  /** Whatever is accepted must be a fully usable sketch whose own encoding decodes again. */
  function checkDecoded(bytes: Uint8Array): void {
    const r = KllSketch.fromBytes(bytes);
    expect(typeof r.ok).toBe('boolean');
    if (r.ok) {
      const s = r.value;
      s.quantiles([0, 0.5, 1]);
      s.rank(0);
      expect(KllSketch.fromBytes(s.toBytes()).ok).toBe(true);
      s.update(1);
      s.merge(s);
      expect(KllSketch.fromBytes(s.toBytes()).ok).toBe(true);
    }
  }

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        checkDecoded(bytes);
        checkDecoded(new Uint8Array([1, bytes[0] ?? 0, 16, 0, ...bytes.subarray(1)]));
      }),
      { numRuns: 2000, seed: 1 },
    );
  });

  it('never throws on mutated valid encodings', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat(255) }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }),
    );
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, mutations) => {
          let bytes = Uint8Array.from(samples[which]!);
          for (const m of mutations) {
            const at = m.at % (bytes.length + 1);
            if (m.kind === 'set' && at < bytes.length) bytes[at] = m.byte;
            if (m.kind === 'flip' && at < bytes.length) bytes[at]! ^= 1 << m.bit;
            if (m.kind === 'cut') bytes = bytes.subarray(0, at);
            if (m.kind === 'insert') {
              bytes = new Uint8Array([...bytes.subarray(0, at), m.byte, ...bytes.subarray(at)]);
            }
          }
          checkDecoded(bytes);
        },
      ),
      { numRuns: 2000, seed: 2 },
    );
  });

  it('never throws on random base64 text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(typeof KllSketch.fromBase64(text).ok).toBe('boolean');
      }),
      { numRuns: 500, seed: 3 },
    );
  });

  it('keeps round-tripping arbitrary finite streams', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 600 }),
        fc.integer({ min: 8, max: 64 }),
        (values, k) => {
          const s = sketchOf(values, 1, k);
          const back = KllSketch.fromBytes(s.toBytes());
          expect(back.ok).toBe(true);
          if (back.ok) expectSameAnswers(s, back.value);
        },
      ),
      { numRuns: 300, seed: 4 },
    );
  });
});
