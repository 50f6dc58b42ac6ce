import { describe, expect, it } from 'vitest';
import { DEPLOYMENT_REASONS } from './deployment.js';
import {
  DEPLOYMENT_REASON_ACTIONS,
  ERROR_ACTIONS,
  deploymentReasonGuide,
  errorGuide,
} from './error-guide.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';

describe('the error guide', () => {
  it('says what to do about every error code, and about nothing else', () => {
    expect(Object.keys(ERROR_ACTIONS).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const guide = errorGuide(code);
      expect(guide.meaning, code).toBe(ERROR_CODES[code]);
      expect(guide.action.length, code).toBeGreaterThan(20);
    }
  });

  it('says what to do about every deployment reason, with the meaning of its error code', () => {
    expect(Object.keys(DEPLOYMENT_REASON_ACTIONS).sort()).toEqual([...DEPLOYMENT_REASONS].sort());
    for (const reason of DEPLOYMENT_REASONS) {
      const guide = deploymentReasonGuide(reason);
      expect(guide.meaning, reason).toBe(ERROR_CODES[`EF_${reason.toUpperCase()}` as ErrorCode]);
      expect(guide.action.length, reason).toBeGreaterThan(20);
    }
  });
});
