/**
 * `<stateDir>/local-api.json`: where the running agent's local API actually listens (the port a
 * configured port 0 resolved to), written by `run` after start and removed on stop, so `status`
 * and other local tools can find it. A file left by a killed agent names a dead pid and is ignored.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { LocalApiAddress } from '../api/serve-local-api.js';
import { readJsonFile, writeJsonFileAtomic } from '../store/atomic-file.js';

export const LOCAL_API_FILE = 'local-api.json';

const LocalApiFileSchema = z.strictObject({
  pid: z.int().min(1),
  address: z.union([
    z.strictObject({ host: z.string(), port: z.int().min(1).max(65_535), url: z.string() }),
    z.strictObject({ socketPath: z.string() }),
  ]),
  startedAt: z.string(),
});

export async function writeLocalApiFile(stateDir: string, address: LocalApiAddress): Promise<void> {
  await writeJsonFileAtomic(join(stateDir, LOCAL_API_FILE), {
    pid: process.pid,
    address,
    startedAt: new Date().toISOString(),
  });
}

export async function removeLocalApiFile(stateDir: string): Promise<void> {
  await rm(join(stateDir, LOCAL_API_FILE), { force: true });
}

/** The address a live agent wrote, or undefined (no file, unreadable, or its process is gone). */
export async function readLocalApiFile(stateDir: string): Promise<LocalApiAddress | undefined> {
  const read = await readJsonFile(join(stateDir, LOCAL_API_FILE), LocalApiFileSchema);
  if (!read.ok) return undefined;
  try {
    process.kill(read.value.pid, 0);
  } catch (error) {
    // EPERM: alive but another user's (a service user); ESRCH: gone.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return read.value.address;
}
