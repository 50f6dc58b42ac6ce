import { describe, expect, it } from 'vitest';
import { RateSchema, MaintenanceWindowSchema } from './spec.js';
import {
  budgetAllowance,
  effectiveRate,
  inMaintenanceWindow,
  MINUTE_MS,
  rateAllowance,
} from './throttle.js';

describe('throttle', () => {
  it('keeps the base rate without a ramp', () => {
    expect(effectiveRate(RateSchema.parse({ maxPerMinute: 7 }), 1000)).toBe(7);
  });

  it('multiplies the rate after every rampAfter successes, up to the ceiling', () => {
    const rate = RateSchema.parse({
      maxPerMinute: 4,
      rampAfter: 10,
      rampFactor: 2,
      rampMaxPerMinute: 50,
    });
    expect([0, 9, 10, 25, 30, 1000].map((s) => effectiveRate(rate, s))).toEqual([
      4, 4, 8, 16, 32, 50,
    ]);
    const unbounded = RateSchema.parse({ maxPerMinute: 1, rampAfter: 1 });
    expect(effectiveRate(unbounded, 10_000)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('counts directives of the last 60 seconds only', () => {
    const now = 10 * MINUTE_MS;
    const sent = [now - MINUTE_MS, now - MINUTE_MS + 1, now - 1000, now];
    expect(rateAllowance(5, sent, now)).toBe(2);
    expect(rateAllowance(2, sent, now)).toBe(0);
  });

  it('leaves room in the budget for the devices not updating', () => {
    expect(budgetAllowance(10, 4)).toBe(6);
    expect(budgetAllowance(3, 5)).toBe(0);
  });

  it('opens the maintenance window on its days and hours (UTC)', () => {
    const w = MaintenanceWindowSchema.parse({ days: ['mon', 'tue'], start: '09:00', end: '17:30' });
    // 2026-01-05 is a Monday.
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 5, 9, 0))).toBe(true);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 5, 17, 29))).toBe(true);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 5, 17, 30))).toBe(false);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 5, 8, 59))).toBe(false);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 7, 10, 0))).toBe(false);
    expect(inMaintenanceWindow(undefined, 0)).toBe(true);
  });

  it('runs a window past midnight into the next day', () => {
    const w = MaintenanceWindowSchema.parse({ days: ['fri'], start: '22:00', end: '03:00' });
    // 2026-01-09 is a Friday.
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 9, 23, 0))).toBe(true);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 10, 2, 59))).toBe(true);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 10, 3, 0))).toBe(false);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 9, 2, 0))).toBe(false);
    expect(inMaintenanceWindow(w, Date.UTC(2026, 0, 10, 23, 0))).toBe(false);
  });
});
