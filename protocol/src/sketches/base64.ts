/**
 * Standard base64 (RFC 4648 §4: `A-Z a-z 0-9 + /`, `=` padding) without `Buffer` or `atob`, so the
 * protocol package runs anywhere. The decoder is strict and canonical: length a multiple of 4, padding
 * only at the end, unused trailing bits zero. Every byte string therefore has exactly one accepted text.
 */
import { fail, ok, type Result } from '../errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Character code -> 6-bit value, or -1 for characters outside the alphabet. */
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Encode bytes as padded standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  const full = bytes.length - (bytes.length % 3);
  for (let i = 0; i < full; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    chunk +=
      ALPHABET[v >>> 18]! +
      ALPHABET[(v >>> 12) & 63]! +
      ALPHABET[(v >>> 6) & 63]! +
      ALPHABET[v & 63]!;
    // Keep string pieces short-ish so very large inputs do not build one deep rope.
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = '';
    }
  }
  const rest = bytes.length - full;
  if (rest === 1) {
    const v = bytes[full]! << 16;
    chunk += ALPHABET[v >>> 18]! + ALPHABET[(v >>> 12) & 63]! + '==';
  } else if (rest === 2) {
    const v = (bytes[full]! << 16) | (bytes[full + 1]! << 8);
    chunk += ALPHABET[v >>> 18]! + ALPHABET[(v >>> 12) & 63]! + ALPHABET[(v >>> 6) & 63]! + '=';
  }
  parts.push(chunk);
  return parts.join('');
}

function sextet(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? DECODE[c]! : -1;
}

/**
 * Decode padded standard base64. Returns EF_MALFORMED for anything that is not the canonical encoding
 * of some byte string, and EF_TOO_LARGE when the decoded length would exceed `maxBytes`.
 */
export function decodeBase64(text: string, maxBytes = Number.MAX_SAFE_INTEGER): Result<Uint8Array> {
  if (text.length % 4 !== 0) return fail('EF_MALFORMED', 'base64 length is not a multiple of 4');
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const size = (text.length / 4) * 3 - padding;
  if (size > maxBytes) {
    return fail('EF_TOO_LARGE', `decoded size ${size} exceeds the cap of ${maxBytes} bytes`);
  }
  const out = new Uint8Array(size);
  const fullGroups = padding === 0 ? text.length : text.length - 4;
  let o = 0;
  for (let i = 0; i < fullGroups; i += 4) {
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    const c = sextet(text, i + 2);
    const d = sextet(text, i + 3);
    if ((a | b | c | d) < 0) return fail('EF_MALFORMED', `invalid base64 character near ${i}`);
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >>> 16;
    out[o++] = (v >>> 8) & 255;
    out[o++] = v & 255;
  }
  if (padding > 0) {
    const i = fullGroups;
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    const c = padding === 1 ? sextet(text, i + 2) : 0;
    if ((a | b | c) < 0) return fail('EF_MALFORMED', `invalid base64 character near ${i}`);
    const v = (a << 18) | (b << 12) | (c << 6);
    // Canonical form: the bits below the last whole byte must be zero.
    if ((padding === 2 ? v & 0xffff : v & 0xff) !== 0) {
      return fail('EF_MALFORMED', 'base64 has non-zero padding bits (not canonical)');
    }
    out[o] = v >>> 16;
    if (padding === 1) out[o + 1] = (v >>> 8) & 255;
  }
  return ok(out);
}
