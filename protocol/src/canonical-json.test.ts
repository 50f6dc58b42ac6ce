import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalBytes,
  canonicalize,
  MAX_CANONICAL_DEPTH,
  parseCanonical,
} from './canonical-json.js';
import { EdgefleetError } from './errors.js';

const FC = { seed: 8785, numRuns: 300 } as const;
const utf8 = (s: string) => new TextEncoder().encode(s);

function doubleFromHex(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

function codeOfThrown(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof EdgefleetError ? e.code : 'not an EdgefleetError';
  }
  return undefined;
}

describe('canonicalize: RFC 8785 examples', () => {
  // RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical serialisation.
  const numbers: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];

  it.each(numbers)('serialises the double 0x%s as %s', (hex, expected) => {
    expect(canonicalize(doubleFromHex(hex))).toBe(expected);
  });

  it.each(['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000'])(
    'refuses the non-finite double 0x%s',
    (hex) => {
      expect(codeOfThrown(() => canonicalize(doubleFromHex(hex)))).toBe('EF_MALFORMED');
    },
  );

  it('writes 1e21 and 1e-7 in exponent form and 1e20 and 1e-6 in plain form', () => {
    expect(canonicalize([1e21, 1e-7, 1e20, 1e-6])).toBe(
      '[1e+21,1e-7,100000000000000000000,0.000001]',
    );
  });

  it('produces the RFC 8785 §3.2.2 sample output from its sample input', () => {
    const input = JSON.parse(
      '{\n  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n' +
        '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n' +
        '  "literals": [null, true, false]\n}',
    ) as unknown;
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts member names by UTF-16 code units as in the RFC 8785 §3.2.3 example', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
        '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });
});

describe('canonicalize: strings', () => {
  it('uses the short escapes for backspace, tab, newline, form feed and carriage return', () => {
    expect(canonicalize('\b\t\n\f\r')).toBe('"\\b\\t\\n\\f\\r"');
  });

  it('escapes other control characters as lower-case \\u00xx', () => {
    expect(canonicalize('\u0000\u001f\u000b')).toBe('"\\u0000\\u001f\\u000b"');
  });

  it('writes DEL, U+2028, non-ASCII and surrogate pairs unescaped', () => {
    expect(canonicalize('\u007f\u2028é\ud83d\ude00')).toBe('"\u007f\u2028é\ud83d\ude00"');
  });

  it('escapes quote and backslash but not solidus', () => {
    expect(canonicalize('"\\/')).toBe('"\\"\\\\/"');
  });

  it.each([
    ['a high surrogate at the end', 'a\ud800'],
    ['a high surrogate before a letter', '\ud800a'],
    ['a low surrogate alone', '\udc00'],
    ['two high surrogates', '\ud800\ud800'],
  ])('refuses a string with %s', (_what, s) => {
    expect(codeOfThrown(() => canonicalize(s))).toBe('EF_MALFORMED');
  });

  it('refuses a member name with a lone surrogate', () => {
    expect(codeOfThrown(() => canonicalize({ '\udfff': 1 }))).toBe('EF_MALFORMED');
  });
});

describe('canonicalize: values JSON cannot represent', () => {
  class Point {
    x = 1;
  }
  const sparse: unknown[] = [];
  sparse[1] = 1;
  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['an undefined member', { a: undefined }],
    ['an undefined array element', [undefined]],
    ['a hole in a sparse array', sparse],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 1n],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['a class instance', new Point()],
    ['a symbol-keyed member', { [Symbol('k')]: 1 }],
    ['NaN inside an object', { n: NaN }],
    ['-Infinity inside an array', [-Infinity]],
  ])('refuses %s with EF_MALFORMED', (_what, value) => {
    expect(codeOfThrown(() => canonicalize(value))).toBe('EF_MALFORMED');
  });

  it('refuses a cycle', () => {
    const a: Record<string, unknown> = {};
    a.self = { a };
    expect(codeOfThrown(() => canonicalize(a))).toBe('EF_MALFORMED');
  });

  it('accepts the same object reached twice without a cycle', () => {
    const shared = { k: 1 };
    expect(canonicalize({ a: shared, b: [shared] })).toBe('{"a":{"k":1},"b":[{"k":1}]}');
  });

  it('accepts objects without a prototype', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.b = 2;
    o.a = 1;
    expect(canonicalize(o)).toBe('{"a":1,"b":2}');
  });

  it('writes -0 as 0', () => {
    expect(canonicalize({ z: -0 })).toBe('{"z":0}');
  });

  it(`refuses nesting deeper than ${MAX_CANONICAL_DEPTH}`, () => {
    const deep = JSON.parse(
      '['.repeat(MAX_CANONICAL_DEPTH + 1) + ']'.repeat(MAX_CANONICAL_DEPTH + 1),
    );
    expect(codeOfThrown(() => canonicalize(deep))).toBe('EF_MALFORMED');
    const ok = JSON.parse('['.repeat(MAX_CANONICAL_DEPTH) + ']'.repeat(MAX_CANONICAL_DEPTH));
    expect(codeOfThrown(() => canonicalize(ok))).toBeUndefined();
  });

  it('encodes canonicalBytes as UTF-8', () => {
    expect([...canonicalBytes({ e: '€' })]).toEqual([...utf8('{"e":"€"}')]);
  });
});

describe('parseCanonical', () => {
  const parse = (s: string, max = 1024) => parseCanonical(utf8(s), max);
  const codeOf = (s: string) => {
    const r = parse(s);
    return r.ok ? 'ok' : r.code;
  };

  it('returns the value of canonical bytes', () => {
    expect(parse('{"a":[1,"x",null],"b":true}')).toEqual({
      ok: true,
      value: { a: [1, 'x', null], b: true },
    });
  });

  it('refuses bytes above the cap before decoding them', () => {
    const r = parseCanonical(new Uint8Array([0xff, 0xff, 0xff]), 2);
    expect(r).toMatchObject({
      ok: false,
      code: 'EF_TOO_LARGE',
      details: { length: 3, maxBytes: 2 },
    });
  });

  it('accepts bytes exactly at the cap', () => {
    expect(parse('[1]', 3).ok).toBe(true);
  });

  it.each([
    ['an overlong encoding', [0x22, 0xc0, 0xaf, 0x22]],
    ['a truncated sequence', [0x22, 0xe2, 0x82, 0x22]],
    ['an encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['a stray continuation byte', [0x22, 0x80, 0x22]],
  ])('refuses invalid UTF-8 (%s) as EF_MALFORMED', (_what, bytes) => {
    expect(parseCanonical(Uint8Array.from(bytes), 100)).toMatchObject({ code: 'EF_MALFORMED' });
  });

  it('refuses a byte order mark', () => {
    expect(parseCanonical(Uint8Array.from([0xef, 0xbb, 0xbf, 0x31]), 100).ok).toBe(false);
  });

  it.each(['', '{', '{"a":1,}', "{'a':1}", 'nul', '[1]x'])('refuses the non-JSON %j', (s) => {
    expect(codeOf(s)).toBe('EF_MALFORMED');
  });

  it.each([
    ['white space', '{"a": 1}'],
    ['a trailing newline', '[1]\n'],
    ['reordered members', '{"b":1,"a":2}'],
    ['a duplicate member name', '{"a":1,"a":1}'],
    ['a trailing zero', '[1.0]'],
    ['an upper-case exponent', '[1E3]'],
    ['-0', '[-0]'],
    ['an exponent where a plain number is canonical', '[1e2]'],
    ['an integer beyond 2^53 that parses to another number', '[9007199254740993]'],
    ['an escaped letter', '["\\u0041"]'],
    ['an escaped solidus', '["\\/"]'],
    ['an upper-case hex escape', '["\\u001F"]'],
    ['an escaped non-ASCII character', '["\\u00e9"]'],
  ])('refuses %s as EF_NOT_CANONICAL', (_what, s) => {
    expect(codeOf(s)).toBe('EF_NOT_CANONICAL');
  });

  it('refuses an escaped lone surrogate as EF_MALFORMED', () => {
    expect(codeOf('["\\ud800"]')).toBe('EF_MALFORMED');
  });

  it('refuses a number too large for a double as EF_MALFORMED', () => {
    expect(codeOf('[1e400]')).toBe('EF_MALFORMED');
  });

  it('refuses nesting too deep to canonicalize without throwing', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(parseCanonical(utf8(deep), 1_000_000)).toMatchObject({
      ok: false,
      code: 'EF_MALFORMED',
    });
  });
});

describe('canonical JSON properties', () => {
  const json = fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 });

  it('round-trips random JSON values through canonicalBytes and parseCanonical', () => {
    fc.assert(
      fc.property(json, (v) => {
        const r = parseCanonical(canonicalBytes(v), Number.MAX_SAFE_INTEGER);
        expect(r).toEqual({ ok: true, value: v });
      }),
      FC,
    );
  });

  it('is idempotent: canonicalizing the parsed canonical form changes nothing', () => {
    fc.assert(
      fc.property(json, (v) => {
        const once = canonicalize(v);
        expect(canonicalize(JSON.parse(once))).toBe(once);
      }),
      FC,
    );
  });

  it('never throws on random bytes and accepts only canonical ones', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const r = parseCanonical(bytes, 64);
        if (r.ok) expect(canonicalBytes(r.value)).toEqual(bytes);
      }),
      FC,
    );
  });

  it('never throws on canonical bytes with one byte changed', () => {
    fc.assert(
      fc.property(json, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const bytes = canonicalBytes(v);
        bytes[at % bytes.length] = byte;
        const r = parseCanonical(bytes, bytes.length);
        if (r.ok) expect(canonicalBytes(r.value)).toEqual(bytes);
      }),
      FC,
    );
  });
});
