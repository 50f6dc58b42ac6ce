/**
 * Pure chart geometry (no DOM): linear scales, "nice" axis ticks, SVG path data with gaps, step
 * paths for CDFs. Unit-tested in test/dashboard-logic.test.ts.
 */

export interface LinearScale {
  (x: number): number;
  readonly domain: readonly [number, number];
  readonly range: readonly [number, number];
}

/** Map [d0, d1] linearly onto [r0, r1]; a degenerate domain maps to the middle of the range. */
export function linearScale(
  domain: readonly [number, number],
  range: readonly [number, number],
): LinearScale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0;
  const f = ((x: number) =>
    span === 0 ? (r0 + r1) / 2 : r0 + ((x - d0) / span) * (r1 - r0)) as LinearScale;
  return Object.assign(f, { domain, range });
}

/** The smallest step of 1, 2 or 5 times a power of ten that is at least `span / count`. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !(count > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

/** Round axis ticks covering [min, max] (about `count` of them), with the extended domain. */
export function niceTicks(
  min: number,
  max: number,
  count = 4,
): { ticks: number[]; domain: [number, number] } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { ticks: [0, 1], domain: [0, 1] };
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep(max - min, count);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  // Rounded to the step's precision: 0.1 + 0.2 must print as 0.3.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toFixed(decimals)));
  return { ticks, domain: [lo, hi] };
}

export interface Point {
  readonly x: number;
  readonly y: number | null;
}

/** SVG path data through the points, in pixels; a null y breaks the line (a gap in the data). */
export function linePath(
  points: readonly Point[],
  sx: (x: number) => number,
  sy: (y: number) => number,
): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.y === null || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/**
 * A CDF as a step path: quantile values `xs` at ranks `qs` (both ascending), drawn as horizontal
 * then vertical steps, starting at rank 0 and ending at rank 1.
 */
export function cdfPath(
  xs: readonly number[],
  qs: readonly number[],
  sx: (x: number) => number,
  sy: (y: number) => number,
): string {
  if (xs.length === 0 || xs.length !== qs.length) return '';
  let d = `M${sx(xs[0]!).toFixed(1)},${sy(0).toFixed(1)}`;
  let prevY = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = sx(xs[i]!).toFixed(1);
    d += `L${x},${sy(prevY).toFixed(1)}L${x},${sy(qs[i]!).toFixed(1)}`;
    prevY = qs[i]!;
  }
  return d;
}

/** Smallest and largest finite value (undefined when there is none). */
export function extent(values: Iterable<number | null | undefined>): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/** Evenly spaced time ticks (ms) over [t0, t1], at a round minute/hour step, about `count`. */
export function timeTicks(t0: number, t1: number, count = 4): number[] {
  if (!(t1 > t0)) return [t0];
  const steps = [
    60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 21600e3, 43200e3, 86400e3,
  ];
  const want = (t1 - t0) / count;
  const step = steps.find((s) => s >= want) ?? steps[steps.length - 1]!;
  const out: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  return out.length > 0 ? out : [t0];
}
