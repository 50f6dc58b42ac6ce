/**
 * Kubernetes-style label selectors: `site=berlin,hw in (jetson,rpi5),!retired,tier!=canary`.
 *
 * Grammar (comma = AND): `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`,
 * `key` (exists), `!key` (does not exist). Keys and values follow the label rules below.
 */
import { EdgefleetError } from '@edgefleet/protocol';

export type SelectorOp = '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists';

export interface Requirement {
  readonly key: string;
  readonly op: SelectorOp;
  readonly values: readonly string[];
}

/** A parsed selector: all requirements must hold. The empty selector matches everything. */
export type Selector = readonly Requirement[];

export type Labels = Readonly<Record<string, string>>;

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

/** True if `key` is a valid label key (1-63 chars, alphanumeric at both ends, `._/-` inside). */
export function isLabelKey(key: string): boolean {
  return LABEL_KEY.test(key);
}

/** True if `value` is a valid label value (0-63 chars, alphanumeric at both ends, `._-` inside). */
export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
}

function bad(selector: string, why: string): EdgefleetError {
  return new EdgefleetError(
    'EF_BAD_REQUEST',
    `invalid label selector ${JSON.stringify(selector)}: ${why}`,
    {
      details: { selector },
    },
  );
}

/** Split on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

/** Parse a selector. Throws EdgefleetError EF_BAD_REQUEST with a message naming the bad part. */
export function parseSelector(selector: string): Selector {
  const text = selector.trim();
  if (text === '') return [];
  if (text.length > 2048) throw bad(selector.slice(0, 64), 'longer than 2048 characters');
  const out: Requirement[] = [];
  for (const raw of splitTop(text)) {
    const part = raw.trim();
    if (part === '') throw bad(selector, 'empty requirement');
    let m: RegExpExecArray | null;
    if ((m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(part))) {
      const key = m[1]!;
      const values = m[3]!.split(',').map((v) => v.trim());
      if (!isLabelKey(key)) throw bad(selector, `bad key ${JSON.stringify(key)}`);
      if (values.length === 0 || values.some((v) => v === '' || !isLabelValue(v))) {
        throw bad(selector, `bad value list in ${JSON.stringify(part)}`);
      }
      out.push({ key, op: m[2] as 'in' | 'notin', values });
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part))) {
      const key = m[1]!;
      const value = m[3]!;
      if (!isLabelKey(key)) throw bad(selector, `bad key ${JSON.stringify(key)}`);
      if (!isLabelValue(value)) throw bad(selector, `bad value ${JSON.stringify(value)}`);
      out.push({ key, op: m[2] === '!=' ? '!=' : '=', values: [value] });
    } else if ((m = /^!\s*(\S+)$/.exec(part))) {
      if (!isLabelKey(m[1]!)) throw bad(selector, `bad key ${JSON.stringify(m[1])}`);
      out.push({ key: m[1]!, op: '!exists', values: [] });
    } else if (isLabelKey(part)) {
      out.push({ key: part, op: 'exists', values: [] });
    } else {
      throw bad(selector, `cannot parse ${JSON.stringify(part)}`);
    }
  }
  return out;
}

/** Evaluate a selector against a label set. `!=` and `notin` match when the key is absent (as in Kubernetes). */
export function matchesSelector(selector: Selector, labels: Labels): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case '=':
        return has && v === r.values[0];
      case '!=':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
  });
}

/** Render a selector back to its canonical text form. */
export function formatSelector(selector: Selector): string {
  return selector
    .map((r) => {
      switch (r.op) {
        case '=':
        case '!=':
          return `${r.key}${r.op}${r.values[0]}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.op} (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case '!exists':
          return `!${r.key}`;
      }
    })
    .join(',');
}
