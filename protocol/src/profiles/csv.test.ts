import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCsv } from './csv.js';

describe('parseCsv', () => {
  it('reads a header row and typed cells', () => {
    const r = parseCsv('a,b,c\n1,x,\n-2.5e3,"y",NaN\n');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toHaveLength(2);
    expect({ ...r.value[0] }).toEqual({ a: 1, b: 'x', c: null });
    expect(r.value[1]!.a).toBe(-2500);
    expect(r.value[1]!.b).toBe('y');
    expect(r.value[1]!.c).toBeNaN();
  });

  it('keeps quoted fields as text, with commas, line breaks and doubled quotes', () => {
    const r = parseCsv('id,note\r\n"7","say ""hi"", then\r\nleave"\r\n');
    expect(r.ok).toBe(true);
    if (r.ok) expect({ ...r.value[0] }).toEqual({ id: '7', note: 'say "hi", then\r\nleave' });
  });

  it('accepts a byte-order mark, a missing final line end and blank lines', () => {
    const r = parseCsv('\uFEFFx,y\n\n1,2\n\n3,4');
    expect(r.ok && r.value.map((row) => ({ ...row }))).toEqual([
      { x: 1, y: 2 },
      { x: 3, y: 4 },
    ]);
  });

  it('reads "" as an empty string and an empty unquoted field as null', () => {
    const r = parseCsv('a,b\n"",\n');
    expect(r.ok && { ...r.value[0] }).toEqual({ a: '', b: null });
  });

  it('supports another delimiter', () => {
    const r = parseCsv('a;b\n1;2\n', { delimiter: ';' });
    expect(r.ok && { ...r.value[0] }).toEqual({ a: 1, b: 2 });
  });

  it('keeps a column named __proto__ as a plain key', () => {
    const r = parseCsv('__proto__,b\n1,2\n');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(Object.hasOwn(r.value[0]!, '__proto__')).toBe(true);
      expect(r.value[0]!.__proto__).toBe(1);
    }
  });

  it.each([
    ['an unterminated quote', 'a\n"open\n'],
    ['text after a closing quote', 'a\n"x"y\n'],
    ['a quote inside an unquoted field', 'a\nx"y\n'],
    ['a row with too many fields', 'a,b\n1,2,3\n'],
    ['a row with too few fields', 'a,b\n1\n'],
    ['a duplicate column name', 'a,a\n1,2\n'],
    ['an empty column name', 'a,\n1,2\n'],
    ['no header', ''],
  ])('rejects %s', (_, text) => {
    const r = parseCsv(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('EF_MALFORMED');
  });

  it('enforces row and column caps', () => {
    const r1 = parseCsv('a\n1\n2\n3\n', { maxRows: 2 });
    expect(!r1.ok && r1.code).toBe('EF_TOO_LARGE');
    const r2 = parseCsv('a,b,c\n', { maxColumns: 2 });
    expect(!r2.ok && r2.code).toBe('EF_TOO_LARGE');
  });

  it('round-trips quoted text and never throws on arbitrary input', () => {
    const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 20 }), (cells) => {
        const text = 'p,q\n' + cells.map(([p, q]) => `${quote(p)},${quote(q)}`).join('\n');
        const r = parseCsv(text);
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.value.map((row) => [row.p, row.q])).toEqual(cells);
      }),
      { seed: 42, numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const r = parseCsv(text);
        expect(typeof r.ok).toBe('boolean');
      }),
      { seed: 43, numRuns: 500 },
    );
  });
});
