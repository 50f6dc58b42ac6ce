import type { TrustState } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { advancedBy } from './reconciler.js';

// Only the fields `advancedBy` reads or keeps matter here; the root stands in by identity.
const root = { version: 1 } as unknown as TrustState['root'];
const state = (s: Partial<TrustState>): TrustState => ({
  root,
  rootVersion: 1,
  directiveCounter: 0,
  releases: {},
  timeFloor: 0,
  ...s,
});

describe('persisting an accepted directive', () => {
  it('keeps a release recorded since the directive was verified (the rollback floor)', () => {
    const before = state({ directiveCounter: 4, timeFloor: 1000 });
    // Verified against `before`: the counter and floor it advances to.
    const next = { ...before, directiveCounter: 5, timeFloor: 2000 };
    // Meanwhile an install finished and recorded its release.
    const installed = { releaseCounter: 7 } as unknown as TrustState['releases'][string];
    const current = state({ directiveCounter: 4, timeFloor: 1500, releases: { m: installed } });
    const merged = advancedBy(current, next);
    expect(merged.releases).toEqual({ m: installed });
    expect(merged.directiveCounter).toBe(5);
    expect(merged.timeFloor).toBe(2000);
    expect(merged.root).toBe(root);
  });

  it('never lowers the counter or the time floor, and returns the state itself when nothing moves', () => {
    const current = state({ directiveCounter: 9, timeFloor: 5000 });
    expect(advancedBy(current, state({ directiveCounter: 8, timeFloor: 4000 }))).toBe(current);
    expect(advancedBy(current, state({ directiveCounter: 9, timeFloor: 6000 })).timeFloor).toBe(
      6000,
    );
  });
});
