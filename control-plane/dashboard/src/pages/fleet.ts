/** Fleet overview: counts by connection, deployment state, release, hardware and label; devices. */
import { withQuery } from '../api.js';
import { progressBar, legend } from '../charts.js';
import { fill, h, on } from '../dom.js';
import {
  addSelectorTerm,
  formatAgo,
  formatLabels,
  formatPercent,
  shortId,
  stateSegments,
} from '../format.js';
import { empty, errorBox, refreshEvery, refreshOn, section, table, type Page } from '../page.js';

interface Summary {
  total: number;
  online: number;
  offline: number;
  byRelease: Record<string, number>;
  byHardwareClass: Record<string, number>;
  byLabel: Record<string, Record<string, number>>;
  byDeploymentState: Record<string, number>;
}

interface Device {
  id: string;
  hardwareClass: string;
  labels: Record<string, string>;
  online: boolean;
  currentReleaseId: string | null;
  lastSeenAt: string | null;
}

function sorted(counts: Record<string, number>): [string, number][] {
  return Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export const fleetPage: Page = async (ctx) => {
  const selector = ctx.query.get('selector') ?? '';
  const input = h('input', {
    type: 'search',
    name: 'selector',
    value: selector,
    placeholder: 'site=berlin,hw in (jetson,rpi5)',
    'aria-label': 'label selector',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const form = on(
    h(
      'form',
      { class: 'filter', role: 'search' },
      h('label', {}, 'Selector ', input),
      h('button', { type: 'submit' }, 'Filter'),
      selector === '' ? null : h('a', { href: '#/fleet', class: 'button secondary' }, 'Clear'),
    ),
    'submit',
    (ev) => {
      ev.preventDefault();
      ctx.navigate(withQuery('#/fleet', { selector: input.value.trim() }));
    },
  );
  const summaryEl = h('div', { class: 'grid' });
  const devicesEl = h('div');
  fill(
    ctx.root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Fleet'), form),
    summaryEl,
    section('Devices', devicesEl),
  );

  const filterLink = (key: string, value: string) =>
    h(
      'a',
      { href: withQuery('#/fleet', { selector: addSelectorTerm(selector, key, value) }) },
      `${key}=${value}`,
    );

  const counts = (rows: [string, number][], total: number, label: (k: string) => Node | string) =>
    rows.length === 0
      ? empty('none')
      : h(
          'ul',
          { class: 'counts' },
          rows.map(([k, n]) =>
            h(
              'li',
              {},
              h('span', { class: 'k' }, label(k)),
              h('span', { class: 'n' }, n, h('small', {}, ' ', formatPercent(n, total))),
            ),
          ),
        );

  async function refreshSummary(): Promise<void> {
    let sum: Summary;
    try {
      sum = await ctx.api.get<Summary>('/v1/fleet/summary', { selector });
    } catch (e) {
      fill(summaryEl, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const states = stateSegments(sum.byDeploymentState);
    fill(
      summaryEl,
      h(
        'section',
        { class: 'card stat-card' },
        h('h2', {}, 'Devices'),
        h(
          'div',
          { class: 'stats' },
          h('div', { class: 'stat' }, h('b', { 'data-testid': 'total' }, sum.total), 'matching'),
          h('div', { class: 'stat ok' }, h('b', {}, sum.online), 'online'),
          h('div', { class: 'stat warn' }, h('b', {}, sum.offline), 'offline'),
        ),
      ),
      section(
        'Latest deployment state',
        progressBar(states, sum.total),
        legend(states.map((x) => ({ cls: `s-${x.state}`, label: `${x.state} ${x.count}` }))),
      ),
      section(
        'Running release',
        counts(sorted(sum.byRelease), sum.total, (k) =>
          k === 'none' ? h('em', {}, 'no model') : h('code', {}, shortId(k, 18)),
        ),
      ),
      section(
        'Hardware class',
        counts(sorted(sum.byHardwareClass), sum.total, (k) => k),
      ),
      section(
        'Labels',
        Object.keys(sum.byLabel).length === 0
          ? empty('no labels')
          : Object.keys(sum.byLabel)
              .sort()
              .map((key) =>
                h(
                  'div',
                  { class: 'label-group' },
                  h('h3', {}, key),
                  counts(sorted(sum.byLabel[key] ?? {}), sum.total, (v) => filterLink(key, v)),
                ),
              ),
      ),
    );
  }

  let after: string | null = null;
  const rows: HTMLTableRowElement[] = [];
  async function loadDevices(reset: boolean): Promise<void> {
    if (reset) {
      after = null;
      rows.length = 0;
    }
    let page: { devices: Device[]; total: number; next: string | null };
    try {
      page = await ctx.api.get('/v1/devices', { selector, limit: 100, after });
    } catch (e) {
      fill(devicesEl, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const now = Date.now();
    for (const d of page.devices) {
      rows.push(
        h(
          'tr',
          {},
          h('td', {}, h('code', {}, d.id)),
          h('td', {}, d.hardwareClass),
          h('td', { class: 'labels' }, formatLabels(d.labels)),
          h(
            'td',
            {},
            d.currentReleaseId === null
              ? h('em', {}, 'none')
              : h('code', { title: d.currentReleaseId }, shortId(d.currentReleaseId, 18)),
          ),
          h(
            'td',
            {},
            h('span', { class: `dot-status ${d.online ? 'online' : 'offline'}` }),
            d.online ? 'online' : 'offline',
          ),
          h('td', { title: d.lastSeenAt ?? '' }, formatAgo(d.lastSeenAt, now)),
        ),
      );
    }
    after = page.next;
    const more =
      after === null
        ? null
        : on(h('button', { type: 'button', class: 'secondary' }, 'Load more'), 'click', () => {
            void loadDevices(false);
          });
    fill(
      devicesEl,
      rows.length === 0
        ? empty(selector === '' ? 'No devices enrolled yet.' : 'No device matches the selector.')
        : table(['Device', 'Hardware', 'Labels', 'Release', 'Connection', 'Last seen'], rows),
      h('p', { class: 'muted' }, `${rows.length} of ${page.total} shown. `, more),
    );
  }

  const refresh = async () => {
    await Promise.all([refreshSummary(), loadDevices(true)]);
  };
  await refresh();
  refreshOn(ctx, (e) => e.type === 'deployment.status' || e.type === 'rollout.tick', refresh, 2000);
  // Connection changes are not streamed (a reconnect storm would flood every dashboard): poll.
  refreshEvery(ctx, refresh, 30_000);
};
