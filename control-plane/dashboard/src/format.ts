/**
 * Pure formatting helpers (no DOM): numbers, percentages, times, device-state order. Unit-tested in
 * test/dashboard-logic.test.ts.
 */

/** A number with about `digits` significant digits, without exponent noise for everyday values. */
export function formatNumber(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 1e6 || abs < 1e-4) return x.toExponential(Math.max(0, digits - 1));
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return Number(x.toFixed(Math.min(decimals, 6))).toLocaleString('en-US', {
    maximumFractionDigits: Math.min(decimals, 6),
  });
}

/** `part / whole` as a percentage (`–` when whole is 0). */
export function formatPercent(part: number, whole: number, decimals = 0): string {
  if (whole <= 0) return '–';
  return `${((100 * part) / whole).toFixed(decimals)}%`;
}

/** A fraction in [0, 1] as a percentage. */
export function formatRatio(x: number | null | undefined, decimals = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(decimals)}%`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `2025-11-26 17:52:03` in UTC (operators compare times across sites: one clock for all). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

/** `HH:MM` in UTC (chart axes). */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago` (future times: `in 5 s`). */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  const abs = Math.abs(s);
  const text =
    abs < 60
      ? `${abs} s`
      : abs < 3600
        ? `${Math.floor(abs / 60)} min`
        : abs < 86_400
          ? `${Math.floor(abs / 3600)} h`
          : `${Math.floor(abs / 86_400)} d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

/** A long id shortened for tables: the head and the tail (`ro_8f3a…91c2`). */
export function shortId(id: string, keep = 8): string {
  return id.length <= 2 * keep + 1 ? id : `${id.slice(0, keep)}…${id.slice(-4)}`;
}

/**
 * Device deployment states in the order progress bars stack them: done first, then in flight,
 * then not started, then the bad outcomes.
 */
export const DEPLOYMENT_STATE_ORDER = [
  'succeeded',
  'soaking',
  'activating',
  'staged',
  'verifying',
  'downloading',
  'assigned',
  'pending',
  'failed',
  'rolled_back',
  'timed_out',
] as const;

export interface Segment {
  readonly state: string;
  readonly count: number;
}

/** Counts by state as ordered segments (known states first, in order; unknown ones after, sorted). */
export function stateSegments(counts: Readonly<Record<string, number | undefined>>): Segment[] {
  const known = new Set<string>(DEPLOYMENT_STATE_ORDER);
  const out: Segment[] = [];
  for (const state of DEPLOYMENT_STATE_ORDER) {
    const n = counts[state] ?? 0;
    if (n > 0) out.push({ state, count: n });
  }
  for (const state of Object.keys(counts).sort()) {
    const n = counts[state] ?? 0;
    if (!known.has(state) && n > 0) out.push({ state, count: n });
  }
  return out;
}

/** `a=1,b=2` for a label map (sorted keys). */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''}`)
    .join(', ');
}

/** Add `key=value` to a selector text unless an equal term is already there. */
export function addSelectorTerm(selector: string, key: string, value: string): string {
  const term = `${key}=${value}`;
  const terms = selector
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  // Terms with `in (a,b)` contain commas: only plain terms are compared.
  if (terms.includes(term)) return terms.join(',');
  return [...terms, term].join(',');
}
