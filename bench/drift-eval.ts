/**
 * Drift evaluation harness: how often the default drift gate fires without drift (false alarms per
 * feature-window), how often it catches drift of a given size (power), and how often decisions made
 * from sketches (KLL k = 200, what devices send) agree with decisions made from the raw samples
 * (`ExactSummary`, run through the same metric code).
 *
 * Reference: 100,000 values from each distribution (normal, lognormal, uniform, bimodal), sketched
 * once. Live windows of 200, 1000 and 10,000 values: drift-free windows, mean shifts of 0.1 .. 1
 * reference sigma, variance x1.25 .. x2 (spread about the mean scaled by sqrt(r)), and mixtures in
 * which a fraction of the window is shifted by 1 sigma. A categorical section does the same for
 * predicted classes. Seeded: every run gives the same figures.
 *
 * Run alone: `npx tsc -b bench && node bench/dist/drift-eval.js` (prints the tables, writes
 * bench/drift-eval.json and the 'drift' rows of bench/results.json).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CATEGORICAL_METRICS,
  categoricalMetrics,
  createRandom,
  DEFAULT_DRIFT_THRESHOLDS,
  ExactSummary,
  FrequentItems,
  KllSketch,
  nextFloat,
  NUMERIC_METRICS,
  numericMetric,
  numericMetrics,
  thresholdSettings,
  type DriftReportOptions,
  type FrequencySummary,
  type MetricResult,
  type NumericMetric,
  type RandomSource,
} from '@edgefleet/protocol';
import { printTable, writeResults, type BenchRow } from './lib/report.js';

// --- Distributions and scenarios --------------------------------------------------------------

/** Seeded uniform and normal deviates; Box-Muller pairs, both halves used (half the cost). */
class Gen {
  private spare = NaN;
  constructor(readonly random: RandomSource) {}
  float(): number {
    return nextFloat(this.random);
  }
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const z = this.spare;
      this.spare = NaN;
      return z;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - nextFloat(this.random)));
    const angle = 2 * Math.PI * nextFloat(this.random);
    this.spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }
}

interface Distribution {
  readonly name: string;
  readonly mean: number;
  readonly std: number;
  draw(g: Gen): number;
}

const DISTRIBUTIONS: readonly Distribution[] = [
  { name: 'normal', mean: 0, std: 1, draw: (g) => g.normal() },
  {
    // lognormal(0, 1): mean e^(1/2), variance (e - 1) e.
    name: 'lognormal',
    mean: Math.exp(0.5),
    std: Math.sqrt((Math.E - 1) * Math.E),
    draw: (g) => Math.exp(g.normal()),
  },
  { name: 'uniform', mean: 0.5, std: Math.sqrt(1 / 12), draw: (g) => g.float() },
  {
    // 0.7 N(0, 1) + 0.3 N(4, 0.5^2): mean 1.2, variance 0.7 + 0.3 (0.25 + 16) - 1.44.
    name: 'bimodal',
    mean: 1.2,
    std: Math.sqrt(0.7 + 0.3 * 16.25 - 1.44),
    draw: (g) => (g.float() < 0.7 ? g.normal() : 4 + 0.5 * g.normal()),
  },
];

/** A change applied to drift-free values: x -> change(x) for a value drawn from `d`. */
interface Scenario {
  readonly family: 'none' | 'mean shift' | 'variance' | 'affected fraction';
  readonly label: string;
  /** Transform one value (may draw from g, e.g. to pick the affected fraction). */
  apply(x: number, d: Distribution, g: Gen): number;
}

const NO_DRIFT: Scenario = { family: 'none', label: 'no drift', apply: (x) => x };

const DRIFT_SCENARIOS: readonly Scenario[] = [
  ...[0.1, 0.2, 0.5, 1].map((k): Scenario => ({
    family: 'mean shift',
    label: `mean +${k}σ`,
    apply: (x, d) => x + k * d.std,
  })),
  ...[1.25, 1.5, 2].map((v): Scenario => ({
    family: 'variance',
    label: `variance ×${v}`,
    apply: (x, d) => d.mean + (x - d.mean) * Math.sqrt(v),
  })),
  ...[0.1, 0.5, 1].map((f): Scenario => ({
    family: 'affected fraction',
    label: `${f * 100}% shifted 1σ`,
    apply: (x, d, g) => (g.float() < f ? x + d.std : x),
  })),
];

// --- Options and results -------------------------------------------------------------------------

export interface DriftEvalOptions {
  /** Drift-free windows per distribution and size (default 1000). */
  readonly nullWindows?: number;
  /** Windows per drift scenario, distribution and size (default 200). */
  readonly driftWindows?: number;
  /** Live window sizes (default 200, 1000, 10000). */
  readonly sizes?: readonly number[];
  /** Reference sample size (default 100,000). */
  readonly referenceSize?: number;
  /** KLL k of every sketch (default 200). */
  readonly kllK?: number;
  readonly seed?: number;
  /** Options of the drift gate under test (default: the protocol defaults). */
  readonly drift?: DriftReportOptions;
  /** Which distributions (default all four). */
  readonly distributions?: readonly string[];
  /** Skip the categorical section. */
  readonly skipCategorical?: boolean;
}

/** Decision counts of one cell (distribution or class model x scenario x window size). */
export interface DriftEvalCell {
  readonly kind: 'numeric' | 'categorical';
  /** Reference distribution (numeric) or class model (categorical). */
  readonly distribution: string;
  readonly scenario: string;
  readonly family: Scenario['family'] | 'class shift';
  readonly n: number;
  readonly windows: number;
  /** Fraction of windows the primary metric flagged, from sketches. */
  readonly rate: number;
  /** The same from the raw samples (exact summaries). */
  readonly exactRate: number;
  /** Fraction of windows where sketch and exact decisions agree. */
  readonly agreement: number;
  /** Fraction flagged by each metric with its default threshold (sample-size-aware). */
  readonly byMetric: Readonly<Record<string, number>>;
  /** Fraction flagged by each metric with its fixed floor only (no sample-size allowance). */
  readonly byFixedThreshold: Readonly<Record<string, number>>;
  /** Mean value of each metric over the windows (sketch). */
  readonly meanValue: Readonly<Record<string, number>>;
  /** Primary-metric threshold applied (sketch; it depends on n only). */
  readonly threshold: number;
}

export interface DriftEvalTable {
  readonly primary: { readonly numeric: NumericMetric; readonly categorical: string };
  readonly thresholds: Readonly<Record<string, number>>;
  readonly falseAlarmRateTarget: number;
  readonly cells: readonly DriftEvalCell[];
  /** Worst false-alarm rate of the primary numeric metric per window size (sketch). */
  readonly falseAlarms: Readonly<Record<number, number>>;
  /** Sketch/exact agreement of the primary metric over every window of the run. */
  readonly agreement: number;
  readonly windows: number;
  readonly seconds: number;
}

// --- Counting ------------------------------------------------------------------------------------

class Tally {
  windows = 0;
  hits = 0;
  exactHits = 0;
  agree = 0;
  threshold = NaN;
  readonly byMetric = new Map<string, number>();
  readonly byFixed = new Map<string, number>();
  readonly sums = new Map<string, number>();

  add(sketch: readonly MetricResult[], e: MetricResult, primary: string): void {
    this.windows++;
    const p = sketch.find((m) => m.metric === primary)!;
    this.threshold = p.threshold;
    if (p.drifted) this.hits++;
    if (e.drifted) this.exactHits++;
    if (p.drifted === e.drifted) this.agree++;
    for (const m of sketch) {
      const inc = (map: Map<string, number>, by: number) =>
        map.set(m.metric, (map.get(m.metric) ?? 0) + by);
      inc(this.byMetric, m.drifted ? 1 : 0);
      const floor = DEFAULT_DRIFT_THRESHOLDS[m.metric];
      inc(this.byFixed, m.value > floor ? 1 : 0);
      inc(this.sums, m.value);
    }
  }

  cell(
    kind: DriftEvalCell['kind'],
    distribution: string,
    scenario: string,
    family: DriftEvalCell['family'],
    n: number,
  ): DriftEvalCell {
    const w = this.windows;
    const frac = (map: Map<string, number>) =>
      Object.fromEntries([...map].map(([k, v]) => [k, v / w]));
    return {
      kind,
      distribution,
      scenario,
      family,
      n,
      windows: w,
      rate: this.hits / w,
      exactRate: this.exactHits / w,
      agreement: this.agree / w,
      byMetric: frac(this.byMetric),
      byFixedThreshold: frac(this.byFixed),
      meanValue: frac(this.sums),
      threshold: this.threshold,
    };
  }
}

// --- Numeric section -----------------------------------------------------------------------------

interface Reference {
  readonly d: Distribution;
  readonly kll: KllSketch;
  readonly exact: ExactSummary;
  readonly std: number;
}

function buildReference(d: Distribution, size: number, k: number, seed: number): Reference {
  const g = new Gen(createRandom(seed));
  const values = new Float64Array(size);
  const kll = new KllSketch({ k, random: createRandom(seed + 1) });
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = d.draw(g);
    values[i] = x;
    kll.update(x);
    sum += x;
  }
  const mean = sum / size;
  let sq = 0;
  for (const x of values) sq += (x - mean) * (x - mean);
  return { d, kll, exact: new ExactSummary(values), std: Math.sqrt(sq / size) };
}

function runNumericCell(
  ref: Reference,
  scenario: Scenario,
  n: number,
  windows: number,
  seed: number,
  k: number,
  opts: DriftReportOptions,
): DriftEvalCell {
  const settings = thresholdSettings(opts);
  const primary = settings.numericMetric;
  const g = new Gen(createRandom(seed));
  const coins = createRandom(seed ^ 0x5bd1e995);
  const buffer = new Float64Array(n);
  const tally = new Tally();
  for (let w = 0; w < windows; w++) {
    const kll = new KllSketch({ k, random: coins });
    for (let i = 0; i < n; i++) {
      const x = scenario.apply(ref.d.draw(g), ref.d, g);
      buffer[i] = x;
      kll.update(x);
    }
    const exact = new ExactSummary(buffer);
    const rankError = Math.max(ref.kll.normalizedRankError(), kll.normalizedRankError());
    // The same thresholds for both: only the summaries differ.
    const sketch = numericMetrics(
      { reference: ref.kll, live: kll, referenceStd: ref.std, rankError },
      settings,
    );
    // Exact decisions are needed for the primary metric only (agreement).
    const raw = numericMetric(
      { reference: ref.exact, live: exact, referenceStd: ref.std, rankError },
      primary,
      settings,
    );
    tally.add(sketch, raw, primary);
  }
  return tally.cell('numeric', ref.d.name, scenario.label, scenario.family, n);
}

// --- Categorical section -------------------------------------------------------------------------

/** Exact class counts, read through the same interface as `FrequentItems`. */
class ExactCounts implements FrequencySummary {
  private readonly counts = new Map<string, number>();
  n = 0;
  update(item: string): void {
    this.counts.set(item, (this.counts.get(item) ?? 0) + 1);
    this.n++;
  }
  *items(): IterableIterator<{ item: string; estimate: number }> {
    for (const [item, estimate] of this.counts) yield { item, estimate };
  }
  estimate(item: string): number {
    return this.counts.get(item) ?? 0;
  }
}

/** A class model: Zipf(1.1) over `classes` classes, drawn by inverse CDF. */
class ClassModel {
  readonly labels: string[];
  private readonly cdf: Float64Array;

  /** `moved`: probability mass moved from the most frequent class to the sixth. */
  constructor(
    readonly classes: number,
    moved: number,
  ) {
    this.labels = Array.from({ length: classes }, (_, i) => `c${i}`);
    const w = this.labels.map((_, i) => 1 / (i + 1) ** 1.1);
    const total = w.reduce((a, b) => a + b, 0);
    const p = w.map((x) => x / total);
    p[0]! -= moved;
    p[5]! += moved;
    this.cdf = new Float64Array(classes);
    let c = 0;
    p.forEach((x, i) => (this.cdf[i] = c += x));
  }

  draw(g: Gen): string {
    const u = g.float();
    let i = 0;
    while (i < this.classes - 1 && u >= this.cdf[i]!) i++;
    return this.labels[i]!;
  }
}

/**
 * Predicted classes: 20 classes (the summary, 64 counters, counts them exactly) and 100 classes
 * (more than its capacity: Misra-Gries estimates, compared on the heavy items).
 */
function runCategorical(
  classes: number,
  sizes: readonly number[],
  nullWindows: number,
  driftWindows: number,
  referenceSize: number,
  seed: number,
  opts: DriftReportOptions,
): DriftEvalCell[] {
  const settings = thresholdSettings(opts);
  const primary = settings.categoricalMetric;
  const g = new Gen(createRandom(seed));
  const base = new ClassModel(classes, 0);
  const refSketch = new FrequentItems();
  const refExact = new ExactCounts();
  for (let i = 0; i < referenceSize; i++) {
    const c = base.draw(g);
    refSketch.update(c);
    refExact.update(c);
  }
  const name = `${classes} classes${classes > refSketch.maxItems ? ' (> capacity)' : ''}`;
  const cells: DriftEvalCell[] = [];
  for (const moved of [0, 0.02, 0.05, 0.1]) {
    const model = new ClassModel(classes, moved);
    for (const n of sizes) {
      const tally = new Tally();
      const windows = moved === 0 ? nullWindows : driftWindows;
      for (let w = 0; w < windows; w++) {
        const live = new FrequentItems();
        const exact = new ExactCounts();
        for (let i = 0; i < n; i++) {
          const c = model.draw(g);
          live.update(c);
          exact.update(c);
        }
        const exactResult = categoricalMetrics(refExact, exact, settings).find(
          (m) => m.metric === primary,
        )!;
        tally.add(categoricalMetrics(refSketch, live, settings), exactResult, primary);
      }
      const label = moved === 0 ? 'no drift' : `${moved * 100}% of mass moved`;
      cells.push(tally.cell('categorical', name, label, moved === 0 ? 'none' : 'class shift', n));
    }
  }
  return cells;
}

// --- The run -------------------------------------------------------------------------------------

/** Run the evaluation; returns bench rows (group 'drift') and the full table. */
export async function runDriftEval(
  opts: DriftEvalOptions = {},
): Promise<{ rows: BenchRow[]; table: DriftEvalTable }> {
  const started = performance.now();
  const nullWindows = opts.nullWindows ?? 1000;
  const driftWindows = opts.driftWindows ?? 200;
  const sizes = opts.sizes ?? [200, 1000, 10_000];
  const referenceSize = opts.referenceSize ?? 100_000;
  const k = opts.kllK ?? 200;
  const seed = opts.seed ?? 20_240_601;
  const drift = opts.drift ?? {};
  const settings = thresholdSettings(drift);
  const distributions = DISTRIBUTIONS.filter(
    (d) => opts.distributions === undefined || opts.distributions.includes(d.name),
  );

  const cells: DriftEvalCell[] = [];
  let cellSeed = seed;
  for (const d of distributions) {
    const ref = buildReference(d, referenceSize, k, (cellSeed += 7919));
    for (const scenario of [NO_DRIFT, ...DRIFT_SCENARIOS]) {
      for (const n of sizes) {
        const windows = scenario === NO_DRIFT ? nullWindows : driftWindows;
        cells.push(runNumericCell(ref, scenario, n, windows, (cellSeed += 7919), k, drift));
      }
      // Yield between scenarios so a caller's timers and I/O keep running.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (opts.skipCategorical !== true) {
    for (const classes of [20, 100]) {
      cells.push(
        ...runCategorical(
          classes,
          sizes,
          nullWindows,
          driftWindows,
          referenceSize,
          seed + classes,
          drift,
        ),
      );
    }
  }

  const numericCells = cells.filter((c) => c.kind === 'numeric');
  const falseAlarms: Record<number, number> = {};
  for (const n of sizes) {
    falseAlarms[n] = Math.max(
      ...numericCells.filter((c) => c.family === 'none' && c.n === n).map((c) => c.rate),
    );
  }
  const windows = cells.reduce((s, c) => s + c.windows, 0);
  const agreement = cells.reduce((s, c) => s + c.agreement * c.windows, 0) / windows;
  const table: DriftEvalTable = {
    primary: { numeric: settings.numericMetric, categorical: settings.categoricalMetric },
    thresholds: settings.thresholds,
    falseAlarmRateTarget: 0.01,
    cells,
    falseAlarms,
    agreement,
    windows,
    seconds: (performance.now() - started) / 1000,
  };
  return { rows: benchRows(table, sizes), table };
}

function benchRows(table: DriftEvalTable, sizes: readonly number[]): BenchRow[] {
  const rows: BenchRow[] = [];
  const pct = (x: number) => Math.round(x * 10_000) / 100;
  const ratio = (a: number, b: number) => (b > 0 ? a / b : a === 0 ? 1 : Infinity);
  const metric = table.primary.numeric;
  const nulls = table.cells.filter((c) => c.family === 'none' && c.kind === 'numeric');
  for (const n of sizes) {
    const at = nulls.filter((c) => c.n === n);
    const worst = Math.max(...at.map((c) => c.rate));
    const worstExact = Math.max(...at.map((c) => c.exactRate));
    rows.push({
      group: 'drift',
      name: `false alarms per feature-window, ${metric}, worst of 4 distributions, n=${n}`,
      value: pct(worst),
      unit: '%',
      peer: 'exact samples',
      peerValue: pct(worstExact),
      ratio: ratio(worst, worstExact),
      goal: '<= 1%',
      pass: worst <= 0.01,
      note: `${at[0]?.windows ?? 0} windows per distribution`,
    });
  }
  const shift = table.cells.filter((c) => c.scenario === 'mean +0.5σ' && c.n === 1000);
  if (shift.length > 0) {
    const worst = Math.min(...shift.map((c) => c.rate));
    const worstExact = Math.min(...shift.map((c) => c.exactRate));
    rows.push({
      group: 'drift',
      name: `power, 0.5σ mean shift, ${metric}, worst of 4 distributions, n=1000`,
      value: pct(worst),
      unit: '%',
      peer: 'exact samples',
      peerValue: pct(worstExact),
      ratio: ratio(worst, worstExact),
      goal: '>= 95%',
      pass: worst >= 0.95,
    });
  }
  const exact = table.cells.reduce((s, c) => s + c.windows, 0);
  rows.push({
    group: 'drift',
    name: 'sketch vs exact-sample decisions agree (all windows)',
    value: pct(table.agreement),
    unit: '%',
    peer: 'exact samples (by definition)',
    peerValue: 100,
    ratio: table.agreement,
    goal: '>= 99%',
    pass: table.agreement >= 0.99,
    note: `${exact} windows`,
  });
  return rows;
}

// --- Printing ------------------------------------------------------------------------------------

const p1 = (x: number) => `${(x * 100).toFixed(1)}%`;

function printTables(table: DriftEvalTable): void {
  const line = (cells: string[], widths: number[]) =>
    cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const print = (title: string, header: string[], body: string[][]) => {
    console.log(title);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    console.log(line(header, widths));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const b of body) console.log(line(b, widths));
    console.log('');
  };
  const rate = (x: number | undefined) => (x === undefined ? '' : p1(x));
  for (const kind of ['numeric', 'categorical'] as const) {
    const cells = table.cells.filter((c) => c.kind === kind);
    if (cells.length === 0) continue;
    const metrics = kind === 'numeric' ? [...NUMERIC_METRICS] : [...CATEGORICAL_METRICS];
    const primary = kind === 'numeric' ? table.primary.numeric : table.primary.categorical;
    print(
      `False alarms per feature-window, ${kind} (drift-free windows; primary ${primary}; each metric ` +
        'with its default threshold, then with its fixed floor alone)',
      [
        'reference',
        'n',
        'windows',
        'threshold',
        'exact',
        ...metrics,
        ...metrics.map((m) => `${m}@fixed`),
      ],
      cells
        .filter((c) => c.family === 'none')
        .map((c) => [
          c.distribution,
          String(c.n),
          String(c.windows),
          c.threshold.toFixed(3),
          p1(c.exactRate),
          ...metrics.map((m) => rate(c.byMetric[m])),
          ...metrics.map((m) => rate(c.byFixedThreshold[m])),
        ]),
    );
    const dists = [...new Set(cells.map((c) => c.distribution))];
    const scenarios = [...new Set(cells.filter((c) => c.family !== 'none').map((c) => c.scenario))];
    const sizes = [...new Set(cells.map((c) => c.n))];
    const body: string[][] = [];
    for (const s of scenarios) {
      for (const n of sizes) {
        const at = cells.filter((x) => x.scenario === s && x.n === n);
        const row = [s, String(n)];
        for (const d of dists) {
          const c = at.find((x) => x.distribution === d);
          row.push(c === undefined ? '' : `${p1(c.rate)} / ${p1(c.exactRate)}`);
        }
        if (kind === 'numeric')
          row.push(p1(Math.min(...at.map((x) => x.byFixedThreshold.psi ?? 0))));
        body.push(row);
      }
    }
    print(
      `Power, ${kind}: windows flagged by ${primary} (sketch / exact samples)`,
      ['scenario', 'n', ...dists, ...(kind === 'numeric' ? ['psi@0.2 (worst)'] : [])],
      body,
    );
  }
  console.log(
    `Sketch vs exact agreement: ${p1(table.agreement)} of ${table.windows} windows; ` +
      `lowest cell ${p1(Math.min(...table.cells.map((c) => c.agreement)))}; ` +
      `run took ${table.seconds.toFixed(1)} s\n`,
  );
}

async function main(): Promise<void> {
  const { rows, table } = await runDriftEval();
  printTables(table);
  printTable(rows);
  const benchDir = fileURLToPath(
    new URL(import.meta.url.includes('/dist/') ? '../' : './', import.meta.url),
  );
  writeFileSync(`${benchDir}drift-eval.json`, JSON.stringify(table, null, 2) + '\n');
  writeResults(`${benchDir}results.json`, rows);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
