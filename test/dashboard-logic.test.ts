/** The dashboard's pure logic (formatting, chart scales, the SSE parser), run in Node. */
import { describe, expect, it } from 'vitest';
import {
  addSelectorTerm,
  formatAgo,
  formatNumber,
  formatPercent,
  formatTime,
  shortId,
  stateSegments,
} from '../control-plane/dashboard/src/format.js';
import {
  cdfPath,
  extent,
  linePath,
  linearScale,
  niceStep,
  niceTicks,
  timeTicks,
} from '../control-plane/dashboard/src/scale.js';
import { SseParser } from '../control-plane/dashboard/src/sse.js';

describe('formatting', () => {
  it('prints numbers with a few significant digits', () => {
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(0.123456)).toBe('0.123');
    expect(formatNumber(12.3456)).toBe('12.3');
    expect(formatNumber(1234)).toBe('1,234');
    expect(formatNumber(0.00001234)).toBe('1.23e-5');
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(Number.NaN)).toBe('–');
    expect(formatNumber(Infinity)).toBe('∞');
  });

  it('prints percentages, UTC times, ages and short ids', () => {
    expect(formatPercent(1, 3)).toBe('33%');
    expect(formatPercent(1, 0)).toBe('–');
    expect(formatTime('2025-03-04T05:06:07.890Z')).toBe('2025-03-04 05:06:07');
    const now = Date.parse('2025-03-04T05:06:07Z');
    expect(formatAgo('2025-03-04T05:06:02Z', now)).toBe('5 s ago');
    expect(formatAgo('2025-03-04T03:00:00Z', now)).toBe('2 h ago');
    expect(formatAgo('2025-03-04T05:07:07Z', now)).toBe('in 1 min');
    expect(formatAgo(null, now)).toBe('never');
    expect(shortId('abcdefghijklmnopqrstuvwxyz', 4)).toBe('abcd…wxyz');
    expect(shortId('short', 4)).toBe('short');
  });

  it('orders device states done, in flight, waiting, bad; unknown states last', () => {
    expect(
      stateSegments({ failed: 1, pending: 2, succeeded: 3, weird: 1, soaking: 0, downloading: 4 }),
    ).toEqual([
      { state: 'succeeded', count: 3 },
      { state: 'downloading', count: 4 },
      { state: 'pending', count: 2 },
      { state: 'failed', count: 1 },
      { state: 'weird', count: 1 },
    ]);
  });

  it('adds a selector term once', () => {
    expect(addSelectorTerm('', 'site', 'berlin')).toBe('site=berlin');
    expect(addSelectorTerm('hw=rpi5', 'site', 'berlin')).toBe('hw=rpi5,site=berlin');
    expect(addSelectorTerm('site=berlin', 'site', 'berlin')).toBe('site=berlin');
  });
});

describe('chart scales', () => {
  it('maps linearly, and a degenerate domain to the middle', () => {
    const s = linearScale([0, 10], [100, 200]);
    expect(s(5)).toBe(150);
    expect(linearScale([3, 3], [0, 10])(3)).toBe(5);
  });

  it('picks 1-2-5 steps and round ticks covering the data', () => {
    expect(niceStep(10, 5)).toBe(2);
    expect(niceStep(0.7, 4)).toBe(0.2);
    const t = niceTicks(0, 0.37, 4);
    expect(t.ticks).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(t.domain).toEqual([0, 0.4]);
    expect(niceTicks(5, 5).ticks.length).toBeGreaterThan(1);
  });

  it('breaks lines at missing values and draws CDF steps', () => {
    const id = (x: number) => x;
    expect(
      linePath(
        [
          { x: 0, y: 1 },
          { x: 1, y: 2 },
          { x: 2, y: null },
          { x: 3, y: 4 },
        ],
        id,
        id,
      ),
    ).toBe('M0.0,1.0L1.0,2.0M3.0,4.0');
    expect(cdfPath([1, 2], [0.5, 1], id, id)).toBe('M1.0,0.0L1.0,0.0L1.0,0.5L2.0,0.5L2.0,1.0');
    expect(extent([3, null, -1, Number.NaN])).toEqual([-1, 3]);
    expect(extent([])).toBeUndefined();
  });

  it('places time ticks on round minutes', () => {
    const t0 = Date.parse('2025-01-01T10:03:00Z');
    const ticks = timeTicks(t0, t0 + 20 * 60_000, 4);
    expect(ticks.map((t) => new Date(t).toISOString().slice(11, 16))).toEqual([
      '10:05',
      '10:10',
      '10:15',
      '10:20',
    ]);
  });
});

describe('SSE parser', () => {
  it('assembles events split across chunks, skips comments, joins data lines', () => {
    const p = new SseParser();
    expect(p.push('event: hello\ndata: {"a"')).toEqual([]);
    expect(p.push(':1}\n\n: comment\n\nid: 7\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r')).toEqual([
      { event: 'hello', data: '{"a":1}', id: undefined },
    ]);
    expect(p.push('\n')).toEqual([{ event: 'x', data: 'a\nb', id: '7' }]);
    expect(p.push('data: plain\n\n')).toEqual([{ event: 'message', data: 'plain', id: '7' }]);
  });
});
