/**
 * Hand-drawn SVG charts, sized to their container in CSS pixels (text stays legible on a phone):
 * a time-series line chart with a threshold line, overlaid histograms and CDFs of two
 * distributions, grouped bars of category shares, and stacked progress bars (HTML). Colours come
 * from CSS classes (app.css), so the charts follow the light/dark theme.
 */
import { h, s } from './dom.js';
import { formatClock, formatNumber, formatRatio, type Segment } from './format.js';
import { cdfPath, extent, linePath, linearScale, niceTicks, timeTicks } from './scale.js';

const M = { top: 12, right: 12, bottom: 26, left: 44 };

export interface TimeSeries {
  readonly name: string;
  readonly points: readonly { readonly t: number; readonly v: number | null }[];
}

function frame(width: number, height: number, label: string): SVGSVGElement {
  return s('svg', {
    class: 'chart',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': label,
  });
}

function yAxis(
  svg: SVGSVGElement,
  ticks: readonly number[],
  sy: (v: number) => number,
  width: number,
  format: (v: number) => string,
): void {
  for (const t of ticks) {
    const y = sy(t).toFixed(1);
    svg.append(
      s('line', { class: 'grid', x1: M.left, x2: width - M.right, y1: y, y2: y }),
      s('text', { class: 'tick', x: M.left - 6, y, 'text-anchor': 'end', dy: '0.32em' }, format(t)),
    );
  }
}

function xLabels(
  svg: SVGSVGElement,
  ticks: readonly number[],
  sx: (v: number) => number,
  height: number,
  format: (v: number) => string,
): void {
  for (const t of ticks) {
    svg.append(
      s(
        'text',
        { class: 'tick', x: sx(t).toFixed(1), y: height - 8, 'text-anchor': 'middle' },
        format(t),
      ),
    );
  }
}

/**
 * A metric over time, one line per series (`line c0`..`c5` colour classes), with a dashed
 * threshold; points above the threshold are marked.
 */
export function lineChart(
  series: readonly TimeSeries[],
  threshold: number | null,
  width: number,
  height = 180,
  label = 'metric over time',
): SVGSVGElement {
  const svg = frame(width, height, label);
  const all = series.flatMap((x) => x.points);
  const tx = extent(all.map((p) => p.t)) ?? [Date.now() - 3600e3, Date.now()];
  const vy = extent([...all.map((p) => p.v), threshold ?? null, 0]) ?? [0, 1];
  const { ticks, domain } = niceTicks(0, Math.max(vy[1] * 1.1, (threshold ?? 0) * 1.25), 4);
  const sx = linearScale(tx, [M.left, width - M.right]);
  const sy = linearScale(domain, [height - M.bottom, M.top]);
  yAxis(svg, ticks, sy, width, (v) => formatNumber(v, 2));
  xLabels(
    svg,
    timeTicks(tx[0], tx[1], Math.max(2, Math.floor(width / 110))),
    sx,
    height,
    formatClock,
  );
  if (threshold !== null) {
    const y = sy(threshold).toFixed(1);
    svg.append(
      s('line', { class: 'threshold', x1: M.left, x2: width - M.right, y1: y, y2: y }),
      s(
        'text',
        { class: 'threshold-label', x: width - M.right, y: Number(y) - 4, 'text-anchor': 'end' },
        `threshold ${formatNumber(threshold)}`,
      ),
    );
  }
  series.forEach((ser, i) => {
    const cls = `c${i % 6}`;
    const pts = ser.points.map((p) => ({ x: p.t, y: p.v }));
    svg.append(s('path', { class: `line ${cls}`, d: linePath(pts, sx, sy) }));
    for (const p of ser.points) {
      if (p.v === null) continue;
      const over = threshold !== null && p.v > threshold;
      svg.append(
        s(
          'circle',
          {
            class: `dot ${cls}${over ? ' over' : ''}`,
            cx: sx(p.t).toFixed(1),
            cy: sy(p.v).toFixed(1),
            r: over ? 3.5 : 2,
          },
          s('title', {}, `${ser.name}: ${formatNumber(p.v)} at ${formatClock(p.t)} UTC`),
        ),
      );
    }
  });
  return svg;
}

export interface NumericSideView {
  readonly mass: readonly number[];
  readonly quantiles: readonly number[];
}

/** Reference and live histograms over shared bin edges, overlaid (fractions per bin). */
export function histogramChart(
  edges: readonly number[],
  reference: NumericSideView | null,
  live: NumericSideView | null,
  width: number,
  height = 180,
): SVGSVGElement {
  const svg = frame(width, height, 'reference and live histograms');
  if (edges.length < 2) return svg;
  const top = extent([...(reference?.mass ?? []), ...(live?.mass ?? [])]) ?? [0, 1];
  const { ticks, domain } = niceTicks(0, top[1], 4);
  const sx = linearScale([edges[0]!, edges[edges.length - 1]!], [M.left, width - M.right]);
  const sy = linearScale(domain, [height - M.bottom, M.top]);
  yAxis(svg, ticks, sy, width, (v) => formatRatio(v, 0));
  const xt = niceTicks(edges[0]!, edges[edges.length - 1]!, Math.max(2, Math.floor(width / 90)));
  xLabels(
    svg,
    xt.ticks.filter((t) => t >= edges[0]! && t <= edges[edges.length - 1]!),
    sx,
    height,
    (v) => formatNumber(v, 3),
  );
  for (const [side, cls] of [
    [reference, 'ref'],
    [live, 'live'],
  ] as const) {
    if (side === null) continue;
    side.mass.forEach((m, i) => {
      const x0 = sx(edges[i]!);
      const x1 = sx(edges[i + 1]!);
      const y = sy(m);
      svg.append(
        s(
          'rect',
          {
            class: `bar ${cls}`,
            x: x0.toFixed(1),
            y: y.toFixed(1),
            width: Math.max(0.5, x1 - x0 - 0.5).toFixed(1),
            height: Math.max(0, sy(0) - y).toFixed(1),
          },
          s(
            'title',
            {},
            `${cls === 'ref' ? 'reference' : 'live'} ${formatNumber(edges[i])}…${formatNumber(edges[i + 1])}: ${formatRatio(m)}`,
          ),
        ),
      );
    });
  }
  return svg;
}

/** Reference and live CDFs from their quantiles. */
export function cdfChart(
  q: readonly number[],
  reference: NumericSideView | null,
  live: NumericSideView | null,
  width: number,
  height = 180,
): SVGSVGElement {
  const svg = frame(width, height, 'reference and live cumulative distributions');
  const xs = extent([...(reference?.quantiles ?? []), ...(live?.quantiles ?? [])]);
  if (xs === undefined) return svg;
  const xt = niceTicks(xs[0], xs[1], Math.max(2, Math.floor(width / 90)));
  const sx = linearScale(xt.domain, [M.left, width - M.right]);
  const sy = linearScale([0, 1], [height - M.bottom, M.top]);
  yAxis(svg, [0, 0.25, 0.5, 0.75, 1], sy, width, (v) => formatRatio(v, 0));
  xLabels(svg, xt.ticks, sx, height, (v) => formatNumber(v, 3));
  if (reference !== null && reference.quantiles.length === q.length) {
    svg.append(s('path', { class: 'cdf ref', d: cdfPath(reference.quantiles, q, sx, sy) }));
  }
  if (live !== null && live.quantiles.length === q.length) {
    svg.append(s('path', { class: 'cdf live', d: cdfPath(live.quantiles, q, sx, sy) }));
  }
  return svg;
}

/** Category shares, reference and live side by side (horizontal bars, one row per category). */
export function categoryChart(
  categories: readonly string[],
  reference: readonly number[] | null,
  live: readonly number[] | null,
  width: number,
): SVGSVGElement {
  const row = 22;
  const labelW = Math.min(140, Math.floor(width * 0.3));
  const height = M.top + categories.length * row + 8;
  const svg = frame(width, height, 'reference and live category shares');
  const top = extent([...(reference ?? []), ...(live ?? []), 0.01]) ?? [0, 1];
  const sx = linearScale([0, top[1]], [labelW + 8, width - M.right - 40]);
  categories.forEach((c, i) => {
    const y = M.top + i * row;
    svg.append(
      s('text', { class: 'tick', x: labelW, y: y + 11, 'text-anchor': 'end' }, c.slice(0, 24)),
    );
    for (const [vals, cls, dy] of [
      [reference, 'ref', 0],
      [live, 'live', 9],
    ] as const) {
      const v = vals?.[i];
      if (v === undefined) continue;
      svg.append(
        s(
          'rect',
          {
            class: `bar ${cls}`,
            x: labelW + 8,
            y: y + dy,
            width: Math.max(0.5, sx(v) - labelW - 8).toFixed(1),
            height: 8,
          },
          s('title', {}, `${cls === 'ref' ? 'reference' : 'live'} ${c}: ${formatRatio(v)}`),
        ),
      );
    }
  });
  return svg;
}

/** A stacked horizontal bar of device counts by state, `total` wide (empty space = not assigned). */
export function progressBar(segments: readonly Segment[], total: number): HTMLDivElement {
  const sum = segments.reduce((a, x) => a + x.count, 0);
  const bar = h('div', {
    class: 'progress',
    role: 'img',
    'aria-label': segments.map((x) => `${x.state} ${x.count}`).join(', ') || 'no devices yet',
  });
  for (const seg of segments) {
    const el = h('div', { class: `seg s-${seg.state}`, title: `${seg.state}: ${seg.count}` });
    el.style.flexGrow = String(seg.count);
    bar.append(el);
  }
  const rest = Math.max(0, total - sum);
  if (rest > 0) {
    const el = h('div', { class: 'seg s-unassigned', title: `not assigned yet: ${rest}` });
    el.style.flexGrow = String(rest);
    bar.append(el);
  }
  return bar;
}

/** A legend: coloured swatches with names. */
export function legend(items: readonly { cls: string; label: string }[]): HTMLDivElement {
  return h(
    'div',
    { class: 'legend' },
    items.map((i) =>
      h('span', { class: 'legend-item' }, h('i', { class: `sw ${i.cls}` }), i.label),
    ),
  );
}
