/**
 * Benchmark rows. Every row is measured against a peer in the same run and reports the ratio, so the
 * numbers mean something on any machine: absolute times on a 2-core CI box say little by themselves.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

export interface BenchRow {
  /** Which benchmark group (e.g. "sketches", "agent", "ingest"). */
  readonly group: string;
  /** What was measured, e.g. "KLL update, ns/value (n=100k)". */
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The peer measured in the same run, e.g. "exact: collect + sort". */
  readonly peer: string;
  readonly peerValue: number;
  /** value / peerValue (or as the row's `ratioNote` says). */
  readonly ratio: number;
  /** The target, in words, e.g. "<= 1000 ns/value". */
  readonly goal: string;
  readonly pass: boolean;
  readonly note?: string;
}

const fmt = (x: number): string =>
  Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4);

/** Print rows as an aligned table. */
export function printTable(rows: readonly BenchRow[]): void {
  const header = ['group', 'measure', 'value', 'peer', 'peer value', 'ratio', 'goal', 'ok'];
  const body = rows.map((r) => [
    r.group,
    r.name,
    `${fmt(r.value)} ${r.unit}`,
    r.peer,
    `${fmt(r.peerValue)} ${r.unit}`,
    fmt(r.ratio),
    r.goal,
    r.pass ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

/** Merge rows into a results JSON file (rows of the same group are replaced). */
export function writeResults(
  path: string,
  rows: readonly BenchRow[],
  extra: Record<string, unknown> = {},
): void {
  mkdirSync(dirname(path), { recursive: true });
  let previous: { rows?: BenchRow[] } & Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      previous = JSON.parse(readFileSync(path, 'utf8')) as typeof previous;
    } catch {
      previous = {};
    }
  }
  const groups = new Set(rows.map((r) => r.group));
  const kept = (previous.rows ?? []).filter((r) => !groups.has(r.group));
  const doc = {
    ...previous,
    ...extra,
    generatedAt: new Date().toISOString(),
    machine: { node: process.version, platform: process.platform, arch: process.arch },
    rows: [...kept, ...rows],
  };
  writeFileSync(path, JSON.stringify(doc, null, 2) + '\n');
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
