/** Rollouts: the list, and one rollout's waves, gate evaluations and operator actions. */
import { ApiError, withQuery } from '../api.js';
import { legend, progressBar } from '../charts.js';
import { badge, fill, h, link, on } from '../dom.js';
import {
  formatAgo,
  formatNumber,
  formatPercent,
  formatTime,
  shortId,
  stateSegments,
} from '../format.js';
import { empty, errorBox, refreshOn, section, table, type Page } from '../page.js';

export const ROLLOUT_STATES: ReadonlySet<string> = new Set([
  'draft',
  'awaiting_approval',
  'running',
  'paused',
  'completed',
  'aborted',
  'cancelled',
  'superseded',
]);
const WAVE_STATES: ReadonlySet<string> = new Set([
  'pending',
  'running',
  'soaking',
  'passed',
  'failed',
]);
const FINAL = new Set(['completed', 'aborted', 'cancelled', 'superseded']);

interface RolloutRow {
  id: string;
  state: string;
  kind: string;
  model: string;
  releaseId: string;
  baselineReleaseId: string | null;
  fleetSize: number | null;
  rollbackOf: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

interface Wave {
  index: number;
  name: string;
  state: string;
  target: number | null;
  members: number;
  counts: Record<string, number>;
}

interface Check {
  metric?: string;
  value?: number | null;
  threshold?: number | null;
  passed?: boolean;
  /** Why the check could not be made (`no_telemetry`, ...); it then does not block. */
  skipped?: string;
}

interface Evaluation {
  id: number;
  waveIndex: number | null;
  kind: string;
  passed: boolean;
  checks: Check[];
  details: Record<string, unknown>;
  evaluatedAt: string;
}

interface RolloutDetail extends RolloutRow {
  spec: { selector?: string; waves?: { name: string; soak?: unknown }[]; onFailure?: string };
  counts: Record<string, number>;
  waves: Wave[];
  evaluations: Evaluation[];
}

export const rolloutsPage: Page = async (ctx) => {
  const stateFilter = ctx.query.get('state') ?? '';
  const list = h('div');
  const select = h(
    'select',
    { 'aria-label': 'state' },
    h('option', { value: '' }, 'all states'),
    [...ROLLOUT_STATES].map((st) =>
      h('option', { value: st, selected: st === stateFilter }, st.replace(/_/g, ' ')),
    ),
  );
  on(select, 'change', () => {
    ctx.navigate(withQuery('#/rollouts', { state: select.value }));
  });
  fill(
    ctx.root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Rollouts'), h('label', {}, 'Show ', select)),
    section('Rollouts, newest first', list),
  );
  const refresh = async () => {
    let rollouts: RolloutRow[];
    try {
      rollouts = (
        await ctx.api.get<{ rollouts: RolloutRow[] }>('/v1/rollouts', {
          state: stateFilter,
          limit: 200,
        })
      ).rollouts;
    } catch (e) {
      fill(list, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const now = Date.now();
    fill(
      list,
      rollouts.length === 0
        ? empty('No rollouts yet.')
        : table(
            ['Rollout', 'State', 'Model', 'Release', 'Devices', 'Created'],
            rollouts.map((r) =>
              h(
                'tr',
                {},
                h(
                  'td',
                  {},
                  link(`#/rollouts/${encodeURIComponent(r.id)}`, h('code', {}, shortId(r.id, 12))),
                  r.kind === 'rollback' ? h('span', { class: 'tag' }, 'rollback') : null,
                ),
                h('td', {}, badge(r.state, ROLLOUT_STATES)),
                h('td', {}, r.model),
                h('td', {}, h('code', { title: r.releaseId }, shortId(r.releaseId, 18))),
                h('td', { class: 'num' }, r.fleetSize ?? '–'),
                h('td', { title: formatTime(r.createdAt) }, formatAgo(r.createdAt, now)),
              ),
            ),
          ),
    );
  };
  await refresh();
  refreshOn(ctx, (e) => e.type.startsWith('rollout.'), refresh, 500);
};

/** Which actions make sense in a state (the server decides; this only hides what would be refused). */
export function actionsFor(state: string, waves: readonly Wave[]): string[] {
  if (FINAL.has(state)) return [];
  const out: string[] = [];
  if (state === 'awaiting_approval') out.push('approve');
  if (state === 'running') out.push('pause');
  if (state === 'paused') out.push('resume');
  const current = waves.find((w) => w.state !== 'passed');
  if (
    (state === 'running' || state === 'paused') &&
    current !== undefined &&
    ['running', 'soaking', 'failed'].includes(current.state)
  ) {
    out.push('promote');
  }
  if (state === 'draft') out.push('start');
  out.push('cancel');
  return out;
}

const ACTION_LABEL: Record<string, string> = {
  approve: 'Approve next wave',
  pause: 'Pause',
  resume: 'Resume',
  promote: 'Promote current wave',
  start: 'Start',
  cancel: 'Cancel rollout',
};

const CONFIRM: Record<string, string> = {
  cancel: 'Cancel this rollout? No new devices get the release; devices already updated keep it.',
  promote: 'Pass the current wave now, whatever its gate says?',
};

/** `success_ratio 1 ≥ 0.95 ✓`: the value, the comparison the gate makes and its limit. */
export function checkText(c: Check): string {
  const metric = c.metric ?? 'check';
  const limit = typeof c.threshold === 'number' ? formatNumber(c.threshold) : '–';
  const op = metric === 'success_ratio' ? '≥' : '≤';
  if (typeof c.skipped === 'string') {
    return `${metric}: skipped (${c.skipped.replace(/_/g, ' ')}), limit ${op} ${limit}`;
  }
  const value = typeof c.value === 'number' ? formatNumber(c.value) : '–';
  return `${metric}: ${value} (limit ${op} ${limit}) ${c.passed === false ? '✗' : '✓'}`;
}

export const rolloutPage: Page = async (ctx) => {
  const id = ctx.params[0] ?? '';
  const head = h('div', { class: 'page-head' });
  const actionsEl = h('div', { class: 'actions' });
  const messageEl = h('div', { 'aria-live': 'polite' });
  const overview = h('div');
  const wavesEl = h('div', { class: 'waves' });
  const evalsEl = h('div');
  fill(
    ctx.root,
    head,
    actionsEl,
    messageEl,
    overview,
    section('Waves', wavesEl),
    section('Gate evaluations', evalsEl),
  );

  let busy = false;
  async function act(action: string): Promise<void> {
    const confirmText = CONFIRM[action];
    if (confirmText !== undefined && !window.confirm(confirmText)) return;
    busy = true;
    for (const b of actionsEl.querySelectorAll('button')) b.disabled = true;
    try {
      await ctx.api.post(`/v1/rollouts/${encodeURIComponent(id)}/${action}`);
      fill(messageEl, h('div', { class: 'notice ok' }, `${ACTION_LABEL[action] ?? action}: done.`));
    } catch (e) {
      fill(messageEl, errorBox(e));
    } finally {
      busy = false;
      await refresh();
    }
  }

  async function refresh(): Promise<void> {
    let r: RolloutDetail;
    try {
      r = await ctx.api.get<RolloutDetail>(`/v1/rollouts/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        fill(head, h('h1', {}, 'Rollout not found'));
        fill(overview, empty(`There is no rollout ${id}.`));
        return;
      }
      fill(overview, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    fill(
      head,
      h(
        'h1',
        {},
        'Rollout ',
        h('code', { class: 'id' }, shortId(r.id, 12)),
        ' ',
        h('span', { 'data-testid': 'rollout-state' }, badge(r.state, ROLLOUT_STATES)),
      ),
    );
    if (!busy) {
      const actions = ctx.me.canDeploy ? actionsFor(r.state, r.waves) : [];
      fill(
        actionsEl,
        actions.map((a) =>
          on(
            h(
              'button',
              {
                type: 'button',
                class: a === 'cancel' ? 'danger' : a === 'promote' ? 'secondary' : '',
                'data-action': a,
              },
              ACTION_LABEL[a] ?? a,
            ),
            'click',
            () => void act(a),
          ),
        ),
        ctx.me.canDeploy
          ? null
          : h(
              'p',
              { class: 'muted' },
              `Signed in as ${ctx.me.role}: actions need the deployer role.`,
            ),
      );
    }
    const total = r.fleetSize ?? Object.values(r.counts).reduce((a, b) => a + b, 0);
    const segs = stateSegments(r.counts);
    fill(
      overview,
      section(
        'Progress',
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Model'),
          h('dd', {}, r.model, r.kind === 'rollback' ? ' (fleet rollback)' : ''),
          h('dt', {}, 'Release'),
          h('dd', {}, h('code', {}, r.releaseId)),
          h('dt', {}, 'Baseline'),
          h('dd', {}, r.baselineReleaseId === null ? '–' : h('code', {}, r.baselineReleaseId)),
          h('dt', {}, 'Selector'),
          h('dd', {}, h('code', {}, r.spec.selector || '(all devices)')),
          h('dt', {}, 'Devices'),
          h(
            'dd',
            {},
            `${r.counts.succeeded ?? 0} of ${total} succeeded (${formatPercent(r.counts.succeeded ?? 0, total)})`,
          ),
          h('dt', {}, 'Updated'),
          h('dd', {}, formatTime(r.updatedAt), ' UTC'),
        ),
        progressBar(segs, total),
        legend(segs.map((x) => ({ cls: `s-${x.state}`, label: `${x.state} ${x.count}` }))),
      ),
    );
    fill(
      wavesEl,
      r.waves.map((w) => {
        const ws = stateSegments(w.counts);
        const target = w.target ?? total;
        return h(
          'div',
          { class: 'wave', 'data-wave': w.index, 'data-state': w.state },
          h(
            'div',
            { class: 'wave-head' },
            h('strong', {}, `${w.index + 1}. ${w.name}`),
            badge(w.state, WAVE_STATES),
            h(
              'span',
              { class: 'muted' },
              `${w.counts.succeeded ?? 0}/${w.members} succeeded` +
                (w.target === null ? ' · rest of fleet' : ` · up to ${w.target} devices`),
            ),
          ),
          progressBar(ws, Math.max(w.members, target - prevTarget(r.waves, w.index, total))),
          ws.length === 0
            ? null
            : h(
                'div',
                { class: 'wave-counts' },
                ws.map((x) => `${x.state} ${x.count}`).join(' · '),
              ),
        );
      }),
    );
    fill(
      evalsEl,
      r.evaluations.length === 0
        ? empty('No gate evaluated yet.')
        : table(
            ['When (UTC)', 'Wave', 'Kind', 'Verdict', 'Checks (value vs threshold)'],
            [...r.evaluations].reverse().map((e) =>
              h(
                'tr',
                {},
                h('td', {}, formatTime(e.evaluatedAt)),
                h(
                  'td',
                  {},
                  e.waveIndex === null ? 'all' : (r.waves[e.waveIndex]?.name ?? e.waveIndex),
                ),
                h('td', {}, e.kind.replace(/_/g, ' ')),
                h(
                  'td',
                  {},
                  h(
                    'span',
                    { class: `badge ${e.passed ? 'state-passed' : 'state-failed'}` },
                    e.passed ? 'passed' : 'failed',
                  ),
                ),
                h(
                  'td',
                  {},
                  e.checks.length === 0
                    ? h('span', { class: 'muted' }, 'no checks')
                    : h(
                        'ul',
                        { class: 'checks' },
                        e.checks.map((c) =>
                          h(
                            'li',
                            { class: c.skipped ? 'skipped' : c.passed === false ? 'bad' : 'good' },
                            checkText(c),
                          ),
                        ),
                      ),
                ),
              ),
            ),
          ),
    );
  }

  await refresh();
  refreshOn(
    ctx,
    (e) =>
      e.type === 'deployment.status' ||
      e.type === 'rollout.created' ||
      (e.type === 'rollout.action' && e.data.rolloutId === id) ||
      (e.type === 'rollout.tick' &&
        (!Array.isArray(e.data.rollouts) || (e.data.rollouts as unknown[]).includes(id))),
    refresh,
    250,
  );
};

/** Devices covered before wave `index` (cumulative targets). */
function prevTarget(waves: readonly Wave[], index: number, total: number): number {
  if (index === 0) return 0;
  return waves[index - 1]?.target ?? total;
}
