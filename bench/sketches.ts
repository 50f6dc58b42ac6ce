/**
 * Sketch benchmarks (group "sketches"), each against an exact peer measured in the same run:
 *   - KLL update cost vs collecting the values and sorting them exactly;
 *   - merging 1000 device sketches vs concatenating and sorting the same raw values;
 *   - wire size of one numeric feature (KLL base64 + NumericSummary JSON, as in a profile) vs the raw
 *     Float64 values, at n = 1e3 .. 1e7.
 *
 * Run alone: `npx tsc -b bench && node bench/dist/sketches.js` (prints a table, updates bench/results.json).
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createRandom,
  KllSketch,
  nextInt,
  nextNormal,
  NumericSummary,
  updateNumericFeature,
} from '@edgefleet/protocol';
import { median, printTable, writeResults, type BenchRow } from './lib/report.js';

const GROUP = 'sketches';
const TRIALS = 7;

function elapsedMs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/** Median time of `trials` runs after one warm-up run (JIT), in ms. */
function medianMs(fn: (trial: number) => void, trials = TRIALS): number {
  fn(-1);
  const times: number[] = [];
  for (let t = 0; t < trials; t++) {
    times.push(
      elapsedMs(() => {
        fn(t);
      }),
    );
  }
  return median(times);
}

function normals(n: number, seed: number): Float64Array {
  const r = createRandom(seed);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = 20 + 5 * nextNormal(r);
  return xs;
}

/** Keeps results observable so the measured work cannot be optimised away. */
let sink = 0;

function updateRow(): BenchRow {
  const n = 100_000;
  const data = normals(n, 1);
  const kllMs = medianMs((trial) => {
    const s = new KllSketch({ random: createRandom(trial + 10) });
    for (let i = 0; i < n; i++) s.update(data[i]!);
    sink += s.numRetained;
  });
  const exactMs = medianMs(() => {
    const collected: number[] = [];
    for (let i = 0; i < n; i++) collected.push(data[i]!);
    sink += Float64Array.from(collected).sort()[n >> 1]!;
  });
  const kllNs = (kllMs * 1e6) / n;
  const exactNs = (exactMs * 1e6) / n;
  return {
    group: GROUP,
    name: 'KLL k=200 update, ns/value (n=100k)',
    value: kllNs,
    unit: 'ns',
    peer: 'exact: collect into array + sort',
    peerValue: exactNs,
    ratio: kllNs / exactNs,
    goal: '<= 1000 ns/value',
    pass: kllNs <= 1000,
  };
}

function mergeRow(): BenchRow {
  const parts = 1000;
  const r = createRandom(2);
  const sketches: KllSketch[] = [];
  const raw: Float64Array[] = [];
  let total = 0;
  for (let p = 0; p < parts; p++) {
    const size = 500 + nextInt(r, 1001);
    const shift = nextNormal(r);
    const xs = new Float64Array(size);
    const s = new KllSketch({ random: createRandom(1000 + p) });
    for (let i = 0; i < size; i++) {
      xs[i] = shift + nextNormal(r);
      s.update(xs[i]!);
    }
    sketches.push(s);
    raw.push(xs);
    total += size;
  }
  const mergeMs = medianMs((trial) => {
    const merged = new KllSketch({ random: createRandom(trial + 20) });
    for (const s of sketches) merged.merge(s);
    sink += merged.quantile(0.5);
  });
  const exactMs = medianMs(() => {
    const all = new Float64Array(total);
    let o = 0;
    for (const xs of raw) {
      all.set(xs, o);
      o += xs.length;
    }
    sink += all.sort()[total >> 1]!;
  });
  return {
    group: GROUP,
    name: `KLL merge of ${parts} sketches (${total} values), ms`,
    value: mergeMs,
    unit: 'ms',
    peer: 'exact: concatenate + sort',
    peerValue: exactMs,
    ratio: mergeMs / exactMs,
    goal: '<= 50 ms',
    pass: mergeMs <= 50,
  };
}

/**
 * Wire bytes of one numeric feature as a profile carries it: KLL base64 + summary JSON. With
 * `float32` false the values are float64 (e.g. computed features) and go through the profile's own
 * update path, which keeps quantile items at float32 precision (`updateNumericFeature`).
 */
function sizeRow(n: number, float32: boolean): BenchRow {
  const r = createRandom(3);
  const kll = new KllSketch({ random: createRandom(4) });
  const summary = new NumericSummary();
  const feature = { kind: 'numeric' as const, summary, kll };
  for (let i = 0; i < n; i++) {
    const x = 20 + 5 * nextNormal(r);
    updateNumericFeature(feature, float32 ? Math.fround(x) : x);
  }
  const binary = kll.toBytes().length;
  const json = JSON.stringify(summary.toJSON()).length;
  const wire = kll.toBase64().length + json;
  const rawBytes = 8 * n;
  return {
    group: GROUP,
    name: `bytes/numeric feature, n=${n.toExponential().replace('e+', 'e')} (${float32 ? 'float32' : 'float64'} values)`,
    value: wire,
    unit: 'B',
    peer: 'raw Float64 values',
    peerValue: rawBytes,
    ratio: wire / rawBytes,
    goal: '<= 4096 bytes',
    pass: wire <= 4096,
    note:
      `KLL ${kll.numRetained} items, ${binary} B binary ` +
      `= ${kll.toBase64().length} B base64; summary JSON ${json} B`,
  };
}

/** All rows of the "sketches" group. */
export async function runSketchBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [updateRow(), mergeRow()];
  for (const n of [1e3, 1e4, 1e5, 1e6, 1e7]) rows.push(sizeRow(n, true));
  // The same feature when its values are float64 (e.g. computed features), through the profile path.
  rows.push(sizeRow(1e6, false));
  if (sink === 42) console.log(''); // observed, never true in practice
  return Promise.resolve(rows);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runSketchBench();
  printTable(rows);
  for (const r of rows) if (r.note !== undefined) console.log(`${r.name}: ${r.note}`);
  const benchDir = fileURLToPath(
    new URL(import.meta.url.includes('/dist/') ? '../' : './', import.meta.url),
  );
  writeResults(`${benchDir}results.json`, rows);
}
