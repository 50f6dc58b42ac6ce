import { describe, expect, it } from 'vitest';
import { formatSelector, matchesSelector, parseSelector } from './selector.js';

describe('label selectors', () => {
  it('parses equality, set and existence requirements', () => {
    expect(parseSelector('site=berlin,hw in (jetson, rpi5),!retired,tier!=canary,gpu')).toEqual([
      { key: 'site', op: '=', values: ['berlin'] },
      { key: 'hw', op: 'in', values: ['jetson', 'rpi5'] },
      { key: 'retired', op: '!exists', values: [] },
      { key: 'tier', op: '!=', values: ['canary'] },
      { key: 'gpu', op: 'exists', values: [] },
    ]);
  });

  it('allows an empty value, as Kubernetes does', () => {
    expect(parseSelector('site=')).toEqual([{ key: 'site', op: '=', values: [''] }]);
  });

  it('treats the empty selector as match-all', () => {
    expect(parseSelector('  ')).toEqual([]);
    expect(matchesSelector([], { a: 'b' })).toBe(true);
  });

  it('matches like Kubernetes: != and notin match an absent key', () => {
    const sel = parseSelector('site=berlin,hw notin (rpi4),tier!=canary');
    expect(matchesSelector(sel, { site: 'berlin', hw: 'jetson' })).toBe(true);
    expect(matchesSelector(sel, { site: 'berlin', hw: 'rpi4' })).toBe(false);
    expect(matchesSelector(sel, { site: 'berlin', tier: 'canary' })).toBe(false);
    expect(matchesSelector(sel, { site: 'paris' })).toBe(false);
  });

  it('rejects malformed selectors with EF_BAD_REQUEST naming the bad part', () => {
    for (const s of ['a b', 'hw in ()', 'hw in (a,,b)', '=x', 'k=v,', 'x in (a b)', 'k=-v']) {
      expect(() => parseSelector(s), s).toThrow(
        expect.objectContaining({ code: 'EF_BAD_REQUEST' }),
      );
    }
  });

  it('formats back to a selector that parses to the same requirements', () => {
    const sel = parseSelector('site=berlin,hw in (jetson,rpi5),!retired');
    expect(parseSelector(formatSelector(sel))).toEqual(sel);
  });
});
