import { describe, expect, it } from 'vitest';
import { CounterSchema, isoTimestamp, timestampMs, TimestampSchema } from './fields.js';

describe('timestamps', () => {
  it.each(['2030-01-01T00:00:00Z', '2030-01-01T00:00:00.5Z', '2028-02-29T23:59:59.999Z'])(
    'accepts %s',
    (s) => {
      expect(TimestampSchema.safeParse(s).success).toBe(true);
    },
  );

  it.each([
    ['a date without a time', '2030-01-01'],
    ['an offset instead of Z', '2030-01-01T00:00:00+01:00'],
    ['a local time', '2030-01-01T00:00:00'],
    ['the 30th of February', '2030-02-30T00:00:00Z'],
    ['hour 24', '2030-01-01T24:00:00Z'],
    ['a lower-case z', '2030-01-01T00:00:00z'],
    ['microseconds', '2030-01-01T00:00:00.000001Z'],
  ])('refuses %s', (_what, s) => {
    expect(TimestampSchema.safeParse(s).success).toBe(false);
  });

  it('reads a timestamp as milliseconds since the epoch', () => {
    expect(timestampMs('1970-01-01T00:00:01.5Z')).toBe(1500);
  });

  it('writes milliseconds since the epoch as a timestamp that reads back', () => {
    expect(timestampMs(isoTimestamp(1_893_456_000_123))).toBe(1_893_456_000_123);
  });

  it('writes a time no Date can hold as its number', () => {
    expect(isoTimestamp(Number.NaN)).toBe('NaN');
  });
});

describe('counters', () => {
  it.each([1, Number.MAX_SAFE_INTEGER])('accepts %d', (n) => {
    expect(CounterSchema.safeParse(n).success).toBe(true);
  });

  it.each([0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1])('refuses %d', (n) => {
    expect(CounterSchema.safeParse(n).success).toBe(false);
  });
});
