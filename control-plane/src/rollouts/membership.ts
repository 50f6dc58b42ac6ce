/**
 * Which devices go first: a deterministic, stratified assignment order.
 *
 * Every device gets a stable pseudo-random position from sha256(rolloutId, deviceId), so the same
 * rollout over the same devices always picks the same canaries, and another rollout picks others.
 * Devices are grouped by the spec's `spreadBy` keys (hardware class, site, ...). Within a group they
 * are ordered by that hash; the k-th of a group of n is placed at (k + offset) / n along the whole
 * order (systematic sampling, the offset a per-group hash). Any prefix of the order then holds every
 * group in proportion to its size, give or take one device, so each wave samples every group.
 */
import { createHash } from 'node:crypto';

/** What membership needs to know of a device. */
export interface CandidateDevice {
  readonly id: string;
  readonly hardwareClass: string;
  readonly labels: Readonly<Record<string, string>>;
}

const TWO_POW_48 = 2 ** 48;

/** A stable number in [0, 1) for the given parts. */
function unitHash(...parts: string[]): number {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return digest.readUIntBE(0, 6) / TWO_POW_48;
}

/** The device's position hash in this rollout, in [0, 1). */
export function deviceHash(rolloutId: string, deviceId: string): number {
  return unitHash('device', rolloutId, deviceId);
}

/** The group a device falls in for `spreadBy` (`hardwareClass` or label keys; a missing label is ''). */
export function spreadGroup(device: CandidateDevice, spreadBy: readonly string[]): string {
  return JSON.stringify(
    spreadBy.map((key) =>
      key === 'hardwareClass' ? device.hardwareClass : (device.labels[key] ?? ''),
    ),
  );
}

interface Placed<D> {
  readonly device: D;
  readonly hash: number;
  readonly position: number;
}

/**
 * The order in which to assign `devices`: deterministic for a rollout and a set of devices (the input
 * order does not matter) and stratified over the `spreadBy` groups.
 */
export function assignmentOrder<D extends CandidateDevice>(
  rolloutId: string,
  devices: readonly D[],
  spreadBy: readonly string[],
): D[] {
  const groups = new Map<string, { device: D; hash: number }[]>();
  for (const device of devices) {
    const key = spreadGroup(device, spreadBy);
    let members = groups.get(key);
    if (members === undefined) groups.set(key, (members = []));
    members.push({ device, hash: deviceHash(rolloutId, device.id) });
  }
  const placed: Placed<D>[] = [];
  for (const [key, members] of groups) {
    members.sort((a, b) => a.hash - b.hash || compareIds(a.device.id, b.device.id));
    const offset = unitHash('group', rolloutId, key);
    members.forEach((m, k) => placed.push({ ...m, position: (k + offset) / members.length }));
  }
  placed.sort(
    (a, b) => a.position - b.position || a.hash - b.hash || compareIds(a.device.id, b.device.id),
  );
  return placed.map((p) => p.device);
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
