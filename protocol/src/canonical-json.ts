/**
 * RFC 8785 JSON Canonicalization Scheme (JCS), written in-house.
 *
 * Every signature in Edgefleet covers the canonical bytes of a document (ARCHITECTURE §3), so the
 * encoder refuses anything that JSON cannot represent exactly instead of silently dropping or
 * rewriting it the way `JSON.stringify` does (undefined, NaN, Date, Map, lone surrogates, ...).
 *
 * - Numbers use the ECMAScript Number-to-String algorithm [RFC 8785 §3.2.2.3]; -0 becomes `0`.
 * - Strings escape only `"`, `\`, and the C0 controls, with the short forms `\b \t \n \f \r` and
 *   lower-case `\u00xx` for the rest [RFC 8785 §3.2.2.2]; everything else is written as is.
 * - Object members are sorted by the UTF-16 code units of their names [RFC 8785 §3.2.3].
 * - Strings and names must be well-formed Unicode: a lone surrogate is rejected [RFC 8785 §3.2.2.2].
 */
import { EdgefleetError, fail, ok, type Result } from './errors.js';

/** Nesting deeper than this is refused, so a hostile document cannot exhaust the stack. */
export const MAX_CANONICAL_DEPTH = 256;

const encoder = new TextEncoder();

/** The RFC 8785 canonical JSON text of `value`. Throws EdgefleetError EF_MALFORMED if JSON cannot represent it. */
export function canonicalize(value: unknown): string {
  const parts: string[] = [];
  writeValue(value, parts, new Set<object>(), 0);
  return parts.join('');
}

/** The UTF-8 bytes of `canonicalize(value)`: what signatures and document hashes cover. */
export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value));
}

/**
 * Decode bytes received from outside: at most `maxBytes` (EF_TOO_LARGE), strict UTF-8 and JSON
 * (EF_MALFORMED), and byte-for-byte the canonical form of what they parse to (EF_NOT_CANONICAL:
 * white space, member order, duplicate names, number and escape spellings). Never throws.
 */
export function parseCanonical(bytes: Uint8Array, maxBytes: number): Result<unknown> {
  if (bytes.length > maxBytes) {
    return fail('EF_TOO_LARGE', `document is ${bytes.length} bytes; the cap is ${maxBytes}`, {
      length: bytes.length,
      maxBytes,
    });
  }
  let text: string;
  try {
    // ignoreBOM keeps a leading BOM in the text, so it is refused rather than silently dropped.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return fail('EF_MALFORMED', 'document is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail('EF_MALFORMED', 'document is not valid JSON');
  }
  let canonical: Uint8Array;
  try {
    canonical = canonicalBytes(parsed);
  } catch (e) {
    if (e instanceof EdgefleetError) return fail(e.code, e.message);
    return fail('EF_MALFORMED', 'document cannot be canonicalized');
  }
  if (!sameBytes(bytes, canonical)) {
    return fail('EF_NOT_CANONICAL', 'document bytes are not its RFC 8785 canonical form');
  }
  return ok(parsed);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function malformed(message: string): EdgefleetError {
  return new EdgefleetError('EF_MALFORMED', `cannot canonicalize: ${message}`);
}

function writeValue(value: unknown, out: string[], ancestors: Set<object>, depth: number): void {
  switch (typeof value) {
    case 'string':
      writeString(value, out);
      return;
    case 'number':
      out.push(numberToJson(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'object':
      if (value === null) {
        out.push('null');
        return;
      }
      writeContainer(value, out, ancestors, depth);
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      throw malformed(`${typeof value} is not a JSON value`);
  }
}

function writeContainer(value: object, out: string[], ancestors: Set<object>, depth: number): void {
  if (depth >= MAX_CANONICAL_DEPTH) throw malformed(`nesting deeper than ${MAX_CANONICAL_DEPTH}`);
  if (ancestors.has(value)) throw malformed('the value contains a cycle');
  ancestors.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      // Holes in sparse arrays read as undefined and are refused there.
      writeValue((value as unknown[])[i], out, ancestors, depth + 1);
    }
    out.push(']');
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw malformed(`${Object.prototype.toString.call(value)} is not a plain object`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw malformed('an object has symbol-keyed members');
    }
    const record = value as Record<string, unknown>;
    // Default string ordering compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
    const names = Object.keys(record).sort();
    out.push('{');
    names.forEach((name, i) => {
      if (i > 0) out.push(',');
      writeString(name, out);
      out.push(':');
      writeValue(record[name], out, ancestors, depth + 1);
    });
    out.push('}');
  }
  ancestors.delete(value);
}

/** RFC 8785 §3.2.2.3: the ECMAScript Number::toString form, which `String(n)` implements. */
function numberToJson(n: number): string {
  if (!Number.isFinite(n)) throw malformed(`${n} is not a JSON number`);
  return Object.is(n, -0) ? '0' : String(n);
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0c: '\\f',
  0x0d: '\\r',
  0x22: '\\"',
  0x5c: '\\\\',
};

function writeString(s: string, out: string[]): void {
  let result = '"';
  let runStart = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1); // NaN past the end
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a well-formed surrogate pair, written as is
        continue;
      }
      throw malformed(`lone surrogate U+${c.toString(16).toUpperCase()} at index ${i}`);
    }
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    result += s.slice(runStart, i) + (SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, '0')}`);
    runStart = i + 1;
  }
  out.push(result + s.slice(runStart) + '"');
}
