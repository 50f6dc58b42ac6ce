/** Databases for benchmarks: a fresh one on the PostgreSQL server, dropped afterwards. */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

/**
 * A fresh database on the PostgreSQL server (DATABASE_URL, else postgres://postgres@127.0.0.1:5432/
 * postgres) named `<prefix>_<random>`, or a sentence saying why there is none (the row is skipped).
 */
export async function freshPostgres(
  prefix: string,
): Promise<{ url: string; drop: () => Promise<void> } | string> {
  const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const admin = postgres(base, { max: 1, connect_timeout: 3, onnotice: () => undefined });
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  try {
    await admin.unsafe(`create database ${name}`);
  } catch (e) {
    await admin.end({ timeout: 1 });
    return `PostgreSQL unreachable at ${base.replace(/:[^:@/]*@/, ':***@')}: ${(e as Error).message}`;
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 1 });
    },
  };
}
