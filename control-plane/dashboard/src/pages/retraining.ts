/** Retraining requests filed by drift events, and (admins) webhooks with their delivery log. */
import { badge, fill, h } from '../dom.js';
import { formatAgo, formatTime, formatNumber, shortId } from '../format.js';
import { empty, errorBox, refreshOn, section, table, type Page } from '../page.js';

interface RetrainingRequest {
  id: string;
  model: string;
  releaseId: string | null;
  cohort: string;
  featureSet: string;
  reason: string;
  status: string;
  window: { start: string | null; end: string | null };
  features: { feature?: string; metric?: string; value?: number; threshold?: number }[];
  createdAt: string;
}
interface Webhook {
  id: string;
  url: string;
  events: string[];
  active: boolean;
}
interface Delivery {
  id: number;
  event: string;
  status: string;
  attempts: number;
  responseStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  nextAttemptAt: string;
}

const REQUEST_STATES: ReadonlySet<string> = new Set(['pending', 'delivered', 'failed']);
const DELIVERY_STATES: ReadonlySet<string> = new Set(['pending', 'succeeded', 'failed', 'dead']);

export const retrainingPage: Page = async (ctx) => {
  const requestsEl = h('div', { 'data-testid': 'retraining-requests' });
  const hooksEl = h('div');
  fill(
    ctx.root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Retraining')),
    section('Retraining requests', requestsEl),
    section('Webhooks and deliveries', hooksEl),
  );

  async function requests(): Promise<void> {
    let list: RetrainingRequest[];
    try {
      list = (
        await ctx.api.get<{ requests: RetrainingRequest[] }>('/v1/retraining-requests', {
          limit: 200,
        })
      ).requests;
    } catch (e) {
      fill(requestsEl, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const now = Date.now();
    fill(
      requestsEl,
      list.length === 0
        ? empty('No retraining request yet: drift events file them.')
        : table(
            ['Request', 'Model', 'Cohort', 'Reason', 'Features', 'Status', 'Filed'],
            list.map((r) =>
              h(
                'tr',
                {},
                h('td', {}, h('code', { title: r.id }, shortId(r.id, 12))),
                h(
                  'td',
                  {},
                  r.model,
                  h('br'),
                  h('small', { class: 'muted' }, shortId(r.releaseId ?? '–', 18)),
                ),
                h('td', {}, r.cohort === '' ? 'whole fleet' : r.cohort),
                h('td', {}, r.reason.replace(/_/g, ' ')),
                h(
                  'td',
                  {},
                  r.features
                    .slice(0, 4)
                    .map((f) => `${f.feature ?? '?'} ${formatNumber(f.value ?? null)}`)
                    .join(', '),
                ),
                h('td', {}, badge(r.status, REQUEST_STATES)),
                h('td', { title: formatTime(r.createdAt) }, formatAgo(r.createdAt, now)),
              ),
            ),
          ),
    );
  }

  async function hooks(): Promise<void> {
    if (!ctx.me.canAdminister) {
      fill(hooksEl, empty(`Webhooks are shown to admins (this token is a ${ctx.me.role}).`));
      return;
    }
    let list: Webhook[];
    let deliveries: Delivery[][];
    try {
      list = (await ctx.api.get<{ webhooks: Webhook[] }>('/v1/webhooks')).webhooks;
      deliveries = await Promise.all(
        list.map(
          async (w) =>
            (
              await ctx.api.get<{ deliveries: Delivery[] }>(
                `/v1/webhooks/${encodeURIComponent(w.id)}/deliveries`,
                { limit: 20 },
              )
            ).deliveries,
        ),
      );
    } catch (e) {
      fill(hooksEl, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const now = Date.now();
    fill(
      hooksEl,
      list.length === 0
        ? empty('No webhook registered (POST /v1/webhooks, or `edgefleet webhooks create`).')
        : list.map((w, i) =>
            h(
              'div',
              { class: 'webhook' },
              h(
                'h3',
                {},
                h('code', {}, w.url),
                ' ',
                h(
                  'span',
                  { class: 'muted' },
                  w.events.length === 0 ? 'all events' : w.events.join(', '),
                ),
                w.active ? null : h('span', { class: 'tag' }, 'inactive'),
              ),
              (deliveries[i] ?? []).length === 0
                ? empty('No delivery yet.')
                : table(
                    ['Delivery', 'Event', 'Status', 'Attempts', 'Response', 'Created'],
                    (deliveries[i] ?? []).map((d) =>
                      h(
                        'tr',
                        {},
                        h('td', {}, `#${d.id}`),
                        h('td', {}, d.event),
                        h('td', {}, badge(d.status, DELIVERY_STATES)),
                        h('td', { class: 'num' }, d.attempts),
                        h(
                          'td',
                          { title: d.lastError ?? '' },
                          d.responseStatus === null
                            ? (d.lastError ?? '–')
                            : `HTTP ${d.responseStatus}`,
                        ),
                        h('td', { title: formatTime(d.createdAt) }, formatAgo(d.createdAt, now)),
                      ),
                    ),
                  ),
            ),
          ),
    );
  }

  await Promise.all([requests(), hooks()]);
  refreshOn(
    ctx,
    (e) => e.type === 'retraining.requested' || e.type.startsWith('drift.'),
    () => Promise.all([requests(), hooks()]).then(() => undefined),
    1000,
  );
};
