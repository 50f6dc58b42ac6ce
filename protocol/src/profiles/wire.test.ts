import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom, nextNormal } from '../sketches/random.js';
import { Profile, emptyFeatureSketch, type NumericFeatureSketch } from './profile.js';
import { decodeProfile, encodeProfile, ProfileWireSchema, type ProfileWire } from './wire.js';

function sampleProfile(): Profile {
  const r = createRandom(5);
  const a = emptyFeatureSketch('numeric', { random: createRandom(6) });
  const c = emptyFeatureSketch('categorical', { maxItems: 8 });
  if (a.kind !== 'numeric' || c.kind !== 'categorical') throw new Error('kinds');
  for (let i = 0; i < 5000; i++) {
    const x = nextNormal(r);
    a.summary.update(x);
    a.kll.update(x);
    c.items.update(`class-${i % 11}`);
  }
  a.summary.update(null);
  a.summary.update(NaN);
  return new Profile(
    [
      ['x.a', a],
      ['out.class', c],
    ],
    { start: '2024-06-01T12:00:00Z', end: '2024-06-01T14:05:00.000+02:00' },
  );
}

/** A JSON round trip, as the wire form travels. */
const json = (w: ProfileWire): unknown => JSON.parse(JSON.stringify(w));

describe('profile wire form', () => {
  const profile = sampleProfile();
  const wire = encodeProfile(profile);

  it('matches ProfileWireSchema and lists features in name order', () => {
    expect(ProfileWireSchema.safeParse(json(wire)).success).toBe(true);
    expect(Object.keys(wire.features)).toEqual(['out.class', 'x.a']);
    expect(wire.v).toBe(1);
  });

  it('round-trips through JSON to an equal profile', () => {
    const back = decodeProfile(json(wire), { random: createRandom(1) });
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect(encodeProfile(back.value)).toEqual(wire);
    const kll = (back.value.get('x.a') as NumericFeatureSketch).kll;
    expect(kll.quantile(0.5)).toBe((profile.get('x.a') as NumericFeatureSketch).kll.quantile(0.5));
    expect(back.value.window).toEqual(profile.window);
  });

  it('omits the window when the profile has none', () => {
    const w = encodeProfile(new Profile([]));
    expect(w).toEqual({ v: 1, features: {} });
    expect(decodeProfile(w).ok).toBe(true);
  });

  /** Decode a JSON copy of the valid wire form after `f` changed it. */
  const mutate = (f: (w: unknown) => void) => {
    const copy = json(wire);
    f(copy);
    return decodeProfile(copy);
  };
  /** Set (or with `value` omitted, read) the value at a key path of a JSON object. */
  const setAt = (root: unknown, path: readonly string[], value: unknown): void => {
    let o = root as Record<string, unknown>;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
    o[path[path.length - 1]!] = value;
  };
  const getAt = (root: unknown, path: readonly string[]): unknown =>
    path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], root);
  const set = (path: string[], value: unknown) => (w: unknown) => {
    setAt(w, path, value);
  };
  const xa = ['features', 'x.a'];

  it.each([
    ['another version', 'EF_UNSUPPORTED_VERSION', set(['v'], 2)],
    ['an unknown top-level key', 'EF_MALFORMED', set(['extra'], 1)],
    [
      'a window that ends before it starts',
      'EF_MALFORMED',
      set(['window'], { start: '2024-06-02T00:00:00Z', end: '2024-06-01T00:00:00Z' }),
    ],
    [
      'a window that is not a date-time',
      'EF_MALFORMED',
      set(['window'], { start: 'yesterday', end: 'today' }),
    ],
    ['an unknown feature kind', 'EF_MALFORMED', set([...xa, 'kind'], 'text')],
    [
      'a feature name with white space',
      'EF_MALFORMED',
      (w: unknown) => {
        setAt(w, ['features', 'bad name'], getAt(w, xa));
      },
    ],
    [
      'a feature named __proto__',
      'EF_MALFORMED',
      (w: unknown) => {
        Object.defineProperty(getAt(w, ['features']), '__proto__', {
          value: getAt(w, xa),
          enumerable: true,
        });
      },
    ],
    ['KLL bytes that are not base64', 'EF_MALFORMED', set([...xa, 'kll'], '@@@@')],
    [
      'a truncated KLL sketch',
      'EF_MALFORMED',
      (w: unknown) => {
        setAt(w, [...xa, 'kll'], (getAt(w, [...xa, 'kll']) as string).slice(0, 40));
      },
    ],
    [
      'a KLL count that differs from the summary',
      'EF_MALFORMED',
      set([...xa, 'summary', 'count'], 4999),
    ],
    ['a summary with min above max', 'EF_MALFORMED', set([...xa, 'summary', 'min'], 99)],
    ['items counted more than n', 'EF_MALFORMED', set(['features', 'out.class', 'items', 'n'], 1)],
    ['a negative count', 'EF_MALFORMED', set([...xa, 'summary', 'nulls'], -1)],
  ])('rejects %s', (_, code, f) => {
    const r = mutate(f);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe(code);
  });

  it('caps the feature count, KLL size and item count before parsing', () => {
    const many = mutate((w) => {
      for (let i = 0; i < 20; i++) setAt(w, ['features', `f${i}`], getAt(w, xa));
    });
    expect(many.ok).toBe(true);
    const capped = decodeProfile(json(encodeProfile(sampleProfile())), { maxFeatures: 1 });
    expect(!capped.ok && capped.code).toBe('EF_TOO_LARGE');
    const kllChars = (getAt(json(wire), [...xa, 'kll']) as string).length;
    const bigKll = decodeProfile(json(wire), { maxKllChars: kllChars - 1 });
    expect(!bigKll.ok && bigKll.code).toBe('EF_TOO_LARGE');
    expect(decodeProfile(json(wire), { maxKllChars: kllChars }).ok).toBe(true);
    const items = mutate(
      set(
        ['features', 'out.class', 'items', 'items'],
        Array.from({ length: 5000 }, (_, i) => [`i${i}`, 1]),
      ),
    );
    expect(!items.ok && items.code).toBe('EF_TOO_LARGE');
  });

  it('never throws on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (u) => {
        const r = decodeProfile(u);
        expect(r.ok || typeof r.code === 'string').toBe(true);
      }),
      { seed: 1, numRuns: 300 },
    );
  });

  it('never throws on mutations of a valid wire form', () => {
    const oc = ['features', 'out.class', 'items'];
    const paths: string[][] = [
      ['v'],
      ['window'],
      ['features'],
      xa,
      [...xa, 'summary'],
      [...xa, 'summary', 'count'],
      [...xa, 'summary', 'm2'],
      [...xa, 'kll'],
      oc,
      [...oc, 'items'],
      [...oc, 'maxItems'],
    ];
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom(-1, 0, 1e308, -0, 2 ** 53, 'AAAA', '', null),
      fc.base64String({ maxLength: 200 }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: paths.length - 1 }), value, (i, v) => {
        const copy = json(wire);
        setAt(copy, paths[i]!, v);
        const r = decodeProfile(copy);
        expect(r.ok || typeof r.code === 'string').toBe(true);
      }),
      { seed: 2, numRuns: 500 },
    );
  });

  it('never throws on random bytes in the KLL field', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const copy = json(wire);
        setAt(copy, [...xa, 'kll'], btoa(String.fromCharCode(...bytes)));
        const r = decodeProfile(copy);
        expect(r.ok || typeof r.code === 'string').toBe(true);
      }),
      { seed: 3, numRuns: 300 },
    );
  });
});
