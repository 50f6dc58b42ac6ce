import { describe, expect, it } from 'vitest';
import { judgeSoak, soakPolicy } from './soak.js';

const policy = { minInferences: 10, durationSec: 60, maxErrorRate: 0.1 };

describe('judgeSoak', () => {
  it('passes once the count and the duration are both reached within the error rate', () => {
    expect(judgeSoak({ inferences: 10, errors: 1, elapsedMs: 59_999 }, policy)).toBe('continue');
    expect(judgeSoak({ inferences: 9, errors: 0, elapsedMs: 120_000 }, policy)).toBe('continue');
    expect(judgeSoak({ inferences: 10, errors: 1, elapsedMs: 60_000 }, policy)).toBe('passed');
  });

  it('fails as soon as the minimum count shows an error rate over the limit', () => {
    expect(judgeSoak({ inferences: 9, errors: 9, elapsedMs: 0 }, policy)).toBe('continue');
    expect(judgeSoak({ inferences: 10, errors: 2, elapsedMs: 0 }, policy)).toBe('failed');
  });

  it('with no minimum count, passes on time alone and fails on the first bad rate', () => {
    const timeOnly = { minInferences: 0, durationSec: 30, maxErrorRate: 0 };
    expect(judgeSoak({ inferences: 0, errors: 0, elapsedMs: 30_000 }, timeOnly)).toBe('passed');
    expect(judgeSoak({ inferences: 1, errors: 1, elapsedMs: 0 }, timeOnly)).toBe('failed');
  });

  it('takes the directive soak field by field over the defaults', () => {
    expect(soakPolicy({ durationSec: 5 }, policy)).toEqual({ ...policy, durationSec: 5 });
    expect(soakPolicy(undefined, policy)).toEqual(policy);
  });
});
