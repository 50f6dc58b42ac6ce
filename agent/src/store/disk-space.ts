/**
 * Free-disk-space checks before staging a release, so a download that cannot fit fails early with
 * `disk_full` instead of filling the device's disk (which would also starve the logs and the spool).
 */
import { statfs } from 'node:fs/promises';
import { fail, ok, type Result } from '@edgefleet/protocol';

/** What a file system reports about itself. */
export interface DiskSpace {
  /** Bytes an unprivileged process may still write (`f_bavail * f_bsize`). */
  readonly availableBytes: number;
  /** Size of the file system (`f_blocks * f_bsize`). */
  readonly totalBytes: number;
}

/** Reports the space of the file system holding `path`; injectable so tests can fake a full disk. */
export type DiskSpaceProbe = (path: string) => Promise<DiskSpace>;

/** The real probe, via statfs(2). */
export const statfsProbe: DiskSpaceProbe = async function statfsProbe(path) {
  const s = await statfs(path);
  return { availableBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
};

export interface DiskSpaceCheckOptions {
  /** Default `statfsProbe`. */
  readonly probe?: DiskSpaceProbe;
  /** Bytes to leave free in any case; default 32 MiB. */
  readonly marginBytes?: number;
  /** Fraction of the file system to leave free; default 0.02 (2 %). The larger margin wins. */
  readonly marginFraction?: number;
  /** Bytes that will be freed before writing (e.g. an old slot about to be wiped); default 0. */
  readonly reclaimableBytes?: number;
}

export interface DiskSpaceVerdict {
  readonly neededBytes: number;
  /** `neededBytes` plus the margin. */
  readonly requiredBytes: number;
  /** Free bytes now plus `reclaimableBytes`. */
  readonly availableBytes: number;
}

/**
 * Whether `neededBytes` fit on the file system of `path` while leaving a margin free. Returns
 * `EF_DISK_FULL` (details: needed, required, available) when they do not; a probe that fails (the
 * path does not exist, EIO) is `EF_INTERNAL`.
 */
export async function checkDiskSpace(
  path: string,
  neededBytes: number,
  options: DiskSpaceCheckOptions = {},
): Promise<Result<DiskSpaceVerdict>> {
  const probe = options.probe ?? statfsProbe;
  let space: DiskSpace;
  try {
    space = await probe(path);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return fail('EF_INTERNAL', `cannot read the free space of ${path}: ${message}`);
  }
  const margin = Math.max(
    options.marginBytes ?? 32 * 1024 * 1024,
    Math.ceil((options.marginFraction ?? 0.02) * space.totalBytes),
  );
  const verdict = {
    neededBytes,
    requiredBytes: neededBytes + margin,
    availableBytes: space.availableBytes + (options.reclaimableBytes ?? 0),
  };
  if (verdict.requiredBytes > verdict.availableBytes) {
    return fail(
      'EF_DISK_FULL',
      `${neededBytes} bytes do not fit on the file system of ${path}: ${verdict.availableBytes} bytes can be freed and ${margin} must stay free`,
      { ...verdict },
    );
  }
  return ok(verdict);
}
