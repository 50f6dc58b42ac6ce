/**
 * A fresh, uniquely named PostgreSQL database for one test run, so store suites run against the real
 * server (DATABASE_URL) without seeing each other's rows; dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export interface ScratchDatabase {
  /** The connection URL of the new database. */
  readonly url: string;
  drop(): Promise<void>;
}

export async function createScratchDatabase(serverUrl: string): Promise<ScratchDatabase> {
  const name = `ef_test_${randomBytes(5).toString('hex')}`;
  const admin = () => postgres(serverUrl, { max: 1, onnotice: () => undefined });
  const create = admin();
  try {
    await create.unsafe(`create database "${name}"`);
  } finally {
    await create.end();
  }
  const scratch = new URL(serverUrl);
  scratch.pathname = `/${name}`;
  return {
    url: scratch.toString(),
    async drop() {
      const conn = admin();
      try {
        await conn.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await conn.end();
      }
    },
  };
}
