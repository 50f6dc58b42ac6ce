import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignmentOrder, deviceHash, spreadGroup, type CandidateDevice } from './membership.js';

function fleet(groupSizes: readonly number[]): CandidateDevice[] {
  return groupSizes.flatMap((size, g) =>
    Array.from({ length: size }, (_, i) => ({
      id: `g${g}-d${i}`,
      hardwareClass: `hw${g % 3}`,
      labels: { site: `site${Math.floor(g / 3)}` },
    })),
  );
}

describe('membership', () => {
  it('hashes a device to a stable position that differs between rollouts', () => {
    expect(deviceHash('r1', 'dev-1')).toBe(deviceHash('r1', 'dev-1'));
    expect(deviceHash('r1', 'dev-1')).not.toBe(deviceHash('r2', 'dev-1'));
    expect(deviceHash('r1', 'dev-1')).toBeGreaterThanOrEqual(0);
    expect(deviceHash('r1', 'dev-1')).toBeLessThan(1);
  });

  it('groups by hardware class and labels, a missing label being empty', () => {
    const d = { id: 'a', hardwareClass: 'jetson', labels: { site: 'oslo' } };
    expect(spreadGroup(d, ['hardwareClass', 'site'])).toBe('["jetson","oslo"]');
    expect(spreadGroup(d, ['hardwareClass', 'tier'])).toBe('["jetson",""]');
  });

  it('orders the same devices the same way whatever the input order', () => {
    const devices = fleet([7, 3, 12]);
    const order = assignmentOrder('r1', devices, ['hardwareClass', 'site']).map((d) => d.id);
    const reversed = assignmentOrder('r1', [...devices].reverse(), ['hardwareClass', 'site']);
    expect(reversed.map((d) => d.id)).toEqual(order);
    expect(new Set(order).size).toBe(devices.length);
    const other = assignmentOrder('r2', devices, ['hardwareClass', 'site']).map((d) => d.id);
    expect(other).not.toEqual(order);
  });

  it('puts a device of every group among the first ones', () => {
    const devices = fleet([100, 10, 10, 10]);
    const first = assignmentOrder('r1', devices, ['hardwareClass', 'site']).slice(0, 13);
    const groups = new Set(first.map((d) => spreadGroup(d, ['hardwareClass', 'site'])));
    expect(groups.size).toBe(4);
  });

  it('samples every group in proportion in any prefix (within one device plus rounding)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 9 }),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (sizes, rolloutId, fraction) => {
          const devices = fleet(sizes);
          const n = devices.length;
          const k = Math.round(fraction * n);
          const prefix = assignmentOrder(rolloutId, devices, ['hardwareClass', 'site']).slice(0, k);
          const groups = sizes.length;
          sizes.forEach((size, g) => {
            const got = prefix.filter((d) => d.id.startsWith(`g${g}-`)).length;
            // Systematic sampling: |got - k*size/n| <= 1 + size*groups/n (the position of the
            // k-th device is within groups/n of k/n).
            expect(Math.abs(got - (k * size) / n)).toBeLessThanOrEqual(1 + (size * groups) / n);
          });
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });
});
