/** Zod pieces shared by several routes. */
import { z } from 'zod';
import { isLabelKey, isLabelValue } from '../devices/selector.js';

export const LabelsSchema = z
  .record(z.string(), z.string())
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels')
  .refine(
    (l) => Object.keys(l).every(isLabelKey),
    'label keys: 1-63 chars, alphanumeric at both ends, ._/- inside',
  )
  .refine(
    (l) => Object.values(l).every(isLabelValue),
    'label values: 0-63 chars, alphanumeric at both ends, ._- inside',
  );

/** A duration like `30s`, `10m`, `12h`, `30d` in a request, converted to milliseconds. */
export const DurationSchema = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 90s, 10m, 12h or 30d')
  .transform((s) => parseDuration(s));

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s);
  if (!m) throw new TypeError(`not a duration: ${s}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const IdParamSchema = z.object({ id: z.string().min(1).max(128) });
