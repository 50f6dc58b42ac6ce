/**
 * A small Prometheus metrics registry (text exposition format 0.0.4), shared by the control plane's and
 * the agent's `/metrics`. Counters, gauges and fixed-bucket histograms with labels; no I/O.
 */

type LabelValues = Readonly<Record<string, string | number>>;

function labelKey(labels: LabelValues | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(String(labels[k]))}"`).join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels?: LabelValues, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: LabelValues): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k} ${formatValue(v)}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge';
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect?: () => number,
  ) {}
  set(value: number, labels?: LabelValues): void {
    this.values.set(labelKey(labels), value);
  }
  inc(labels?: LabelValues, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  dec(labels?: LabelValues, by = 1): void {
    this.inc(labels, -by);
  }
  get(labels?: LabelValues): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.collect) return [`${this.name} ${formatValue(this.collect())}`];
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k} ${formatValue(v)}`);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  private readonly series = new Map<
    string,
    { labels: LabelValues | undefined; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  ) {}
  observe(value: number, labels?: LabelValues): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const lines: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        lines.push(
          `${this.name}_bucket${labelKey({ ...s.labels, le: formatValue(b) })} ${s.counts[i]}`,
        );
      });
      lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelKey(s.labels)} ${formatValue(s.sum)}`);
      lines.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/** A set of metrics rendered together. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, collect?: () => number): Gauge {
    return this.add(new Gauge(name, help, collect));
  }
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  /** The Prometheus text exposition (content type `text/plain; version=0.0.4`). */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) {
      out.push(
        `# HELP ${m.name} ${m.help.replace(/\n/g, ' ')}`,
        `# TYPE ${m.name} ${m.type}`,
        ...m.render(),
      );
    }
    return out.join('\n') + '\n';
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
