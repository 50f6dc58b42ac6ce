/**
 * IEEE 754 half precision (binary16) conversions. onnxruntime's JavaScript API carries float16
 * tensors as raw 16-bit patterns in a `Uint16Array` where the platform has no `Float16Array`
 * (Node 20), so feeding and reading float16 models needs these.
 */

/** The number a float16 bit pattern stands for. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The float16 bit pattern nearest to `value` (ties to even; overflow to infinity; NaN as 0x7e00). */
export function numberToFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a < 2 ** -14) {
    // Subnormal (or zero): a multiple of 2^-24. The division is exact, so rounding happens once.
    return sign | roundHalfEven(a / 2 ** -24);
  }
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent--;
  if (2 ** (exponent + 1) <= a) exponent++;
  let mantissa = roundHalfEven((a / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent++;
  }
  if (exponent > 15) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | mantissa;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
