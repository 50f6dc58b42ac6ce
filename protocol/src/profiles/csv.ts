/**
 * A small CSV reader for reference datasets (RFC 4180): a header row, comma-separated fields,
 * double-quoted fields that may hold commas, line breaks and doubled quotes (`""`), LF or CRLF line
 * ends, an optional UTF-8 byte-order mark.
 *
 * Values: an unquoted field that reads as a number (decimal or exponent notation, `NaN`,
 * `Infinity`, `-Infinity`) becomes a number; an empty unquoted field becomes null; everything else,
 * and every quoted field, stays a string (a quoted field is text by the writer's choice).
 */
import { fail, ok, type Result } from '../errors.js';

/** One data row keyed by column name. */
export type CsvValue = number | string | null;
export type CsvRow = Record<string, CsvValue>;

/** Limits for `parseCsv`; the defaults suit reference datasets sent to the control plane. */
export interface CsvOptions {
  /** Field separator (one character). Default `,`. */
  readonly delimiter?: string;
  /** Maximum number of data rows. Default 1,000,000. */
  readonly maxRows?: number;
  /** Maximum number of columns. Default 10,000. */
  readonly maxColumns?: number;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?Infinity$|^NaN$/;

function valueOf(text: string, quoted: boolean): CsvValue {
  if (quoted) return text;
  if (text === '') return null;
  return NUMBER.test(text) ? Number(text) : text;
}

/** A field as read: its text and whether it was quoted. */
interface Field {
  text: string;
  quoted: boolean;
}

/**
 * Parse CSV text with a header row into rows keyed by column name.
 * Fails (never throws) on unbalanced quotes, text after a closing quote, rows with a different
 * number of fields than the header, empty or duplicate header names, and exceeded limits.
 */
export function parseCsv(text: string, options: CsvOptions = {}): Result<CsvRow[]> {
  const delimiter = options.delimiter ?? ',';
  const maxRows = options.maxRows ?? 1_000_000;
  const maxColumns = options.maxColumns ?? 10_000;
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    return fail(
      'EF_BAD_REQUEST',
      'The CSV delimiter must be one character other than a quote or line end.',
    );
  }
  const records: Field[][] = [];
  let record: Field[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  // Each iteration reads one field and the separator after it.
  while (i <= n) {
    let value = '';
    let quoted = false;
    if (text[i] === '"') {
      quoted = true;
      const startLine = line;
      i++;
      for (;;) {
        const close = text.indexOf('"', i);
        if (close < 0) {
          return fail(
            'EF_MALFORMED',
            `CSV: unterminated quoted field starting on line ${startLine}.`,
          );
        }
        const chunk = text.slice(i, close);
        for (const ch of chunk) if (ch === '\n') line++;
        value += chunk;
        if (text[close + 1] === '"') {
          value += '"';
          i = close + 2;
        } else {
          i = close + 1;
          break;
        }
      }
      const next = text[i];
      if (i < n && next !== delimiter && next !== '\n' && next !== '\r') {
        return fail('EF_MALFORMED', `CSV: unexpected text after a closing quote on line ${line}.`);
      }
    } else {
      let j = i;
      while (j < n) {
        const c = text[j];
        if (c === delimiter || c === '\n' || c === '\r') break;
        if (c === '"') {
          return fail('EF_MALFORMED', `CSV: a quote inside an unquoted field on line ${line}.`);
        }
        j++;
      }
      value = text.slice(i, j);
      i = j;
    }
    record.push({ text: value, quoted });
    if (record.length > maxColumns) {
      return fail('EF_TOO_LARGE', `CSV: more than ${maxColumns} columns on line ${line}.`);
    }
    if (i < n && text[i] === delimiter) {
      i++;
      continue;
    }
    // End of record: a line end or the end of the text.
    if (text[i] === '\r' && text[i + 1] === '\n') i += 2;
    else i++;
    line++;
    const blank = record.length === 1 && record[0]!.text === '' && !record[0]!.quoted;
    if (!blank) {
      records.push(record);
      if (records.length > maxRows + 1) {
        return fail('EF_TOO_LARGE', `CSV: more than ${maxRows} data rows.`);
      }
    }
    record = [];
  }
  const header = records[0];
  if (header === undefined) return fail('EF_MALFORMED', 'CSV: no header row.');
  const names = header.map((f) => f.text);
  const seen = new Set<string>();
  for (const name of names) {
    if (name === '') return fail('EF_MALFORMED', 'CSV: an empty column name in the header.');
    if (seen.has(name)) return fail('EF_MALFORMED', `CSV: column "${name}" appears twice.`);
    seen.add(name);
  }
  const rows: CsvRow[] = [];
  for (let r = 1; r < records.length; r++) {
    const fields = records[r]!;
    if (fields.length !== names.length) {
      return fail(
        'EF_MALFORMED',
        `CSV: data row ${r} has ${fields.length} fields, the header has ${names.length}.`,
      );
    }
    // A null-prototype object: column names such as `__proto__` stay plain keys.
    const row = Object.create(null) as CsvRow;
    for (let c = 0; c < names.length; c++) {
      const f = fields[c]!;
      row[names[c]!] = valueOf(f.text, f.quoted);
    }
    rows.push(row);
  }
  return ok(rows);
}
