/**
 * Count fsyncs in this process: every `FileHandle.sync()` (files and directories alike, which is
 * how the agent fsyncs both). For tests of the durability options.
 */
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';

export interface SyncCounter {
  /** fsyncs since `countSyncs()`. */
  readonly count: number;
  restore(): void;
}

export async function countSyncs(): Promise<SyncCounter> {
  const probe = join(tmpdir(), `ef-sync-probe-${process.pid}-${Date.now()}`);
  const handle = await open(probe, 'w');
  const proto = Object.getPrototypeOf(handle) as { sync: () => Promise<void> };
  await handle.close();
  await rm(probe, { force: true });
  const spy = vi.spyOn(proto, 'sync');
  return {
    get count() {
      return spy.mock.calls.length;
    },
    restore: () => {
      spy.mockRestore();
    },
  };
}
