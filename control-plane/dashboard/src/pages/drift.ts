/**
 * Drift: per-feature metric over time against its threshold (one line per cohort), open and past
 * drift events, and a feature's reference vs live distribution drawn from the sketches.
 */
import { withQuery } from '../api.js';
import { categoryChart, cdfChart, histogramChart, legend, lineChart } from '../charts.js';
import { badge, fill, h, on } from '../dom.js';
import { formatAgo, formatNumber, formatTime, shortId } from '../format.js';
import {
  chartWidth,
  empty,
  errorBox,
  refreshEvery,
  refreshOn,
  section,
  table,
  type Page,
} from '../page.js';

interface Point {
  windowStart: string;
  value: number | null;
  threshold: number;
  status: string;
  n: number;
}
interface Series {
  releaseId: string;
  cohort: string;
  featureSet: string;
  feature: string;
  metric: string;
  points: Point[];
}
interface DriftEvent {
  id: number;
  releaseId: string;
  cohort: string;
  featureSet: string;
  status: string;
  feature: string;
  metric: string;
  value: number;
  threshold: number;
  detectedAt: string;
  resolvedAt: string | null;
  features: { feature?: string; metric?: string; value?: number; threshold?: number }[];
}
interface Monitor {
  releaseId: string;
  cohort: string;
  featureSet: string;
  status: string;
  lastWindowStart: string;
}
interface Overview {
  series: Series[];
  monitors: Monitor[];
  events: DriftEvent[];
}
interface NumericSide {
  n: number;
  mean: number | null;
  std: number | null;
  mass: number[];
  below: number;
  above: number;
  quantiles: number[];
}
type Distribution =
  | {
      kind: 'numeric';
      edges: number[];
      q: number[];
      reference: NumericSide | null;
      live: NumericSide | null;
      liveWindows: number;
    }
  | {
      kind: 'categorical';
      categories: string[];
      reference: { n: number; fractions: number[] } | null;
      live: { n: number; fractions: number[] } | null;
      liveWindows: number;
    };

const MONITOR_STATES: ReadonlySet<string> = new Set([
  'firing',
  'ok',
  'over_threshold',
  'insufficient_data',
  'resolved',
]);

const cohortName = (c: string) => (c === '' ? 'whole fleet' : c);

export const driftPage: Page = async (ctx) => {
  const q = ctx.query;
  let models: string[];
  try {
    models = (await ctx.api.get<{ models: { name: string }[] }>('/v1/models')).models.map(
      (m) => m.name,
    );
  } catch (e) {
    fill(ctx.root, h('h1', {}, 'Drift'), errorBox(e));
    return;
  }
  if (!ctx.isCurrent()) return;
  if (models.length === 0) {
    fill(ctx.root, h('h1', {}, 'Drift'), empty('No models yet: push one to watch its drift.'));
    return;
  }
  const model = q.get('model') ?? models[0]!;
  const go = (changes: Record<string, string | undefined>) => {
    const next: Record<string, string | undefined> = {
      model,
      release: q.get('release') ?? undefined,
      cohort: q.get('cohort') ?? undefined,
      feature: q.get('feature') ?? undefined,
      ...changes,
    };
    ctx.navigate(withQuery('#/drift', next));
  };
  const modelSelect = on(
    h(
      'select',
      { 'aria-label': 'model' },
      models.map((m) => h('option', { value: m, selected: m === model }, m)),
    ),
    'change',
    (ev) => {
      ctx.navigate(withQuery('#/drift', { model: (ev.target as HTMLSelectElement).value }));
    },
  );
  const controls = h('div', { class: 'filter' });
  const eventsEl = h('div', { 'data-testid': 'drift-events' });
  const monitorsEl = h('div');
  const chartsEl = h('div', { class: 'chart-grid' });
  const distEl = h('div');
  fill(
    ctx.root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Drift'), h('label', {}, 'Model ', modelSelect)),
    controls,
    section('Drift events', eventsEl),
    section('Metric per feature over time', chartsEl),
    section('Reference vs live distribution', distEl),
    section('Monitors', monitorsEl),
  );

  async function refresh(): Promise<void> {
    let o: Overview;
    try {
      o = await ctx.api.get<Overview>('/v1/drift', { model });
    } catch (e) {
      fill(eventsEl, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const firing = o.events.filter((e) => e.status === 'firing');
    const releases = [
      ...new Set([...o.series.map((x) => x.releaseId), ...o.events.map((e) => e.releaseId)]),
    ];
    // Default: the release of an open event, else the one with the newest data.
    const release =
      q.get('release') ??
      firing[0]?.releaseId ??
      [...o.series].sort(
        (a, b) =>
          Date.parse(b.points.at(-1)?.windowStart ?? '0') -
          Date.parse(a.points.at(-1)?.windowStart ?? '0'),
      )[0]?.releaseId ??
      releases[0];
    const series = o.series.filter((x) => x.releaseId === release);
    const cohorts = [...new Set(series.map((x) => x.cohort))].sort();
    const cohort = q.get('cohort') ?? '';
    const shown = cohort === '' ? series : series.filter((x) => x.cohort === cohort);

    fill(
      controls,
      h(
        'label',
        {},
        'Release ',
        on(
          h(
            'select',
            { 'aria-label': 'release' },
            releases.map((r) => h('option', { value: r, selected: r === release }, shortId(r, 24))),
          ),
          'change',
          (ev) => {
            go({ release: (ev.target as HTMLSelectElement).value, cohort: undefined });
          },
        ),
      ),
      h(
        'label',
        {},
        'Cohort ',
        on(
          h(
            'select',
            { 'aria-label': 'cohort' },
            h('option', { value: '' }, 'all cohorts'),
            cohorts.map((c) => h('option', { value: c, selected: c === cohort }, cohortName(c))),
          ),
          'change',
          (ev) => {
            go({ cohort: (ev.target as HTMLSelectElement).value || undefined });
          },
        ),
      ),
    );

    const now = Date.now();
    const events = [...firing, ...o.events.filter((e) => e.status !== 'firing').slice(0, 20)];
    fill(
      eventsEl,
      firing.length === 0 ? h('p', { class: 'notice ok' }, 'No open drift event.') : null,
      events.length === 0
        ? null
        : table(
            ['Status', 'Cohort', 'Features', 'Top feature', 'Detected', ''],
            events.map((e) =>
              h(
                'tr',
                { class: e.status === 'firing' ? 'firing' : '' },
                h('td', {}, badge(e.status, MONITOR_STATES)),
                h('td', {}, cohortName(e.cohort)),
                h('td', {}, e.featureSet),
                h(
                  'td',
                  {},
                  h('code', {}, e.feature),
                  ` ${e.metric} ${formatNumber(e.value)} > ${formatNumber(e.threshold)}`,
                  e.features.length > 1 ? h('small', {}, ` +${e.features.length - 1} more`) : null,
                ),
                h('td', { title: formatTime(e.detectedAt) }, formatAgo(e.detectedAt, now)),
                h(
                  'td',
                  {},
                  h(
                    'a',
                    {
                      href: withQuery('#/drift', {
                        model,
                        release: e.releaseId,
                        cohort: e.cohort,
                        feature: e.feature,
                      }),
                    },
                    'Inspect',
                  ),
                ),
              ),
            ),
          ),
    );

    fill(
      monitorsEl,
      o.monitors.length === 0
        ? empty('No window evaluated yet (monitors need closed windows with enough samples).')
        : table(
            ['Release', 'Cohort', 'Feature set', 'Status', 'Last window (UTC)'],
            o.monitors.map((m) =>
              h(
                'tr',
                {},
                h('td', {}, h('code', { title: m.releaseId }, shortId(m.releaseId, 18))),
                h('td', {}, cohortName(m.cohort)),
                h('td', {}, m.featureSet),
                h('td', {}, badge(m.status, MONITOR_STATES)),
                h('td', {}, formatTime(m.lastWindowStart)),
              ),
            ),
          ),
    );

    // One chart per feature, one line per cohort.
    const byFeature = new Map<string, Series[]>();
    for (const x of shown) byFeature.set(x.feature, [...(byFeature.get(x.feature) ?? []), x]);
    const features = [...byFeature.keys()].sort();
    const feature = q.get('feature') ?? firing[0]?.feature ?? features[0];
    chartsEl.replaceChildren();
    if (features.length === 0) {
      chartsEl.append(empty('No metric series in the last 24 hours.'));
    }
    const cards = features.slice(0, 24).map((f) => {
      const card = h(
        'figure',
        { class: `chart-card${f === feature ? ' selected' : ''}` },
        h(
          'figcaption',
          {},
          h('strong', {}, f),
          ' ',
          h('span', { class: 'muted' }, byFeature.get(f)![0]!.metric),
          ' ',
          f === feature
            ? h('span', { class: 'tag' }, 'shown below')
            : h(
                'a',
                {
                  href: withQuery('#/drift', {
                    model,
                    release,
                    cohort: cohort || undefined,
                    feature: f,
                  }),
                },
                'distribution',
              ),
        ),
      );
      chartsEl.append(card);
      return { f, card };
    });
    for (const { f, card } of cards) {
      const list = byFeature.get(f)!;
      const threshold = list[0]!.points.at(-1)?.threshold ?? null;
      card.append(
        lineChart(
          list.map((x) => ({
            name: cohortName(x.cohort),
            points: x.points.map((p) => ({ t: Date.parse(p.windowStart), v: p.value })),
          })),
          threshold,
          chartWidth(card, 240),
          160,
          `${f} over time`,
        ),
        legend(list.map((x, i) => ({ cls: `c${i % 6}`, label: cohortName(x.cohort) }))),
      );
    }

    await drawDistribution(
      release,
      feature,
      cohort || firing.find((e) => e.feature === feature)?.cohort,
    );
  }

  async function drawDistribution(
    release: string | undefined,
    feature: string | undefined,
    cohort: string | undefined,
  ): Promise<void> {
    if (release === undefined || feature === undefined) {
      fill(distEl, empty('Pick a feature above.'));
      return;
    }
    let d: Distribution;
    try {
      d = await ctx.api.get<Distribution>('/v1/drift/distribution', {
        release,
        feature,
        cohort,
        bins: 24,
      });
    } catch (e) {
      fill(distEl, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const title = h(
      'p',
      {},
      h('code', {}, feature),
      ` in ${cohortName(cohort ?? '')}, live = the last hour (${d.liveWindows} windows merged), reference = the release's reference profile.`,
    );
    const keys = legend([
      { cls: 'ref', label: `reference (n=${d.reference?.n ?? 0})` },
      { cls: 'live', label: `live (n=${d.live?.n ?? 0})` },
    ]);
    if (d.kind === 'categorical') {
      const fig = h('figure', { class: 'chart-card wide' });
      fill(distEl, title, keys, fig);
      fig.append(
        categoryChart(
          d.categories,
          d.reference?.fractions ?? null,
          d.live?.fractions ?? null,
          chartWidth(fig),
        ),
      );
      return;
    }
    const hist = h(
      'figure',
      { class: 'chart-card' },
      h('figcaption', {}, 'Histogram (share per bin)'),
    );
    const cdf = h(
      'figure',
      { class: 'chart-card' },
      h('figcaption', {}, 'Cumulative distribution'),
    );
    const stats = (name: string, x: NumericSide | null) =>
      x === null
        ? null
        : h(
            'li',
            {},
            `${name}: mean ${formatNumber(x.mean)}, std ${formatNumber(x.std)}, ` +
              `${formatNumber(x.below * 100, 2)}% below / ${formatNumber(x.above * 100, 2)}% above the plotted range`,
          );
    fill(
      distEl,
      title,
      keys,
      h('div', { class: 'chart-grid two' }, hist, cdf),
      h('ul', { class: 'muted small' }, stats('reference', d.reference), stats('live', d.live)),
    );
    hist.append(histogramChart(d.edges, d.reference, d.live, chartWidth(hist)));
    cdf.append(cdfChart(d.q, d.reference, d.live, chartWidth(cdf)));
  }

  await refresh();
  refreshOn(
    ctx,
    (e) => e.type.startsWith('drift.') || e.type === 'retraining.requested',
    refresh,
    500,
  );
  // New windows of metric values are not announced on the stream: poll them.
  refreshEvery(ctx, refresh, 20_000);
};
