import { describe, expect, it } from 'vitest';
import { canTransition, DEPLOYMENT_STATES, isTerminal, needsReason } from './deployment.js';
import { codeOfReason, isErrorCode, reasonOf } from './errors.js';
import { DEPLOYMENT_REASONS } from './deployment.js';

describe('deployment state machine', () => {
  it('allows the happy path in order', () => {
    const path = [
      'assigned',
      'downloading',
      'verifying',
      'staged',
      'activating',
      'soaking',
      'succeeded',
    ] as const;
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
  });

  it('ends failures before activation in failed and after activation in rolled_back', () => {
    for (const s of ['assigned', 'downloading', 'verifying', 'staged'] as const) {
      expect(canTransition(s, 'failed')).toBe(true);
      expect(canTransition(s, 'rolled_back')).toBe(false);
    }
    for (const s of ['activating', 'soaking'] as const) {
      expect(canTransition(s, 'rolled_back')).toBe(true);
      expect(canTransition(s, 'failed')).toBe(false);
    }
  });

  it('never skips the soak: succeeded is reachable only from soaking', () => {
    for (const s of DEPLOYMENT_STATES) expect(canTransition(s, 'succeeded')).toBe(s === 'soaking');
  });

  it('has no way out of terminal states', () => {
    for (const s of DEPLOYMENT_STATES.filter(isTerminal)) {
      for (const t of DEPLOYMENT_STATES) expect(canTransition(s, t)).toBe(false);
    }
    expect(needsReason('failed') && needsReason('rolled_back') && !needsReason('succeeded')).toBe(
      true,
    );
  });

  it('maps every reason to an error code and back', () => {
    for (const r of DEPLOYMENT_REASONS) {
      const code = codeOfReason(r);
      expect(isErrorCode(code)).toBe(true);
      expect(reasonOf(code)).toBe(r);
    }
  });
});
