import { describe, expect, it } from 'vitest';
import { float16BitsToNumber, numberToFloat16Bits } from './float16.js';

describe('float16', () => {
  it('round-trips every non-NaN bit pattern', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16BitsToNumber(bits);
      if (!Number.isNaN(value) && numberToFloat16Bits(value) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });

  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65519, 0x7bff],
    [65520, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000],
    [3 * 2 ** -25, 0x0002],
    [2 ** -14, 0x0400],
    [1 / 3, 0x3555],
    [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [-0, 0x8000],
  ])('encodes %d as %i', (value, bits) => {
    expect(numberToFloat16Bits(value)).toBe(bits);
  });

  it('encodes NaN as a quiet NaN and decodes NaN patterns as NaN', () => {
    expect(numberToFloat16Bits(NaN)).toBe(0x7e00);
    expect(float16BitsToNumber(0x7e00)).toBeNaN();
    expect(float16BitsToNumber(0xfc01)).toBeNaN();
  });
});
