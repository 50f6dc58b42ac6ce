/** The audit log (admins): every change, who made it and how it ended; filters and paging. */
import { withQuery } from '../api.js';
import { badge, fill, h, on } from '../dom.js';
import { formatTime } from '../format.js';
import { empty, errorBox, refreshOn, section, table, type Page } from '../page.js';

interface Entry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

const OUTCOMES: ReadonlySet<string> = new Set(['success', 'failure', 'denied']);

export const auditPage: Page = async (ctx) => {
  if (!ctx.me.canAdminister) {
    fill(
      ctx.root,
      h('h1', {}, 'Audit log'),
      h(
        'div',
        { class: 'notice' },
        `The audit log needs the admin role (this token is a ${ctx.me.role}).`,
      ),
    );
    return;
  }
  const actor = ctx.query.get('actor') ?? '';
  const action = ctx.query.get('action') ?? '';
  const actorInput = h('input', {
    type: 'search',
    value: actor,
    'aria-label': 'actor',
    placeholder: 'operator:alice',
  });
  const actionInput = h('input', {
    type: 'search',
    value: action,
    'aria-label': 'action',
    placeholder: 'rollouts.action',
  });
  const form = on(
    h(
      'form',
      { class: 'filter' },
      h('label', {}, 'Actor ', actorInput),
      h('label', {}, 'Action ', actionInput),
      h('button', { type: 'submit' }, 'Filter'),
    ),
    'submit',
    (ev) => {
      ev.preventDefault();
      ctx.navigate(
        withQuery('#/audit', { actor: actorInput.value.trim(), action: actionInput.value.trim() }),
      );
    },
  );
  const list = h('div');
  fill(
    ctx.root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Audit log'), form),
    section('Newest first', list),
  );

  const rows: HTMLTableRowElement[] = [];
  let before: number | null = null;
  async function load(reset: boolean): Promise<void> {
    if (reset) {
      rows.length = 0;
      before = null;
    }
    let page: { entries: Entry[]; nextBefore: number | null };
    try {
      page = await ctx.api.get('/v1/audit', { limit: 100, before, actor, action });
    } catch (e) {
      fill(list, errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    for (const e of page.entries) {
      const details = Object.entries(e.details)
        .filter(([k]) => k !== 'status')
        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('; ');
      rows.push(
        h(
          'tr',
          {},
          h('td', {}, formatTime(e.at)),
          h('td', {}, e.actor),
          h('td', {}, h('code', {}, e.action)),
          h('td', {}, e.target ?? '–'),
          h('td', {}, badge(e.outcome, OUTCOMES)),
          h(
            'td',
            { class: 'details' },
            details.length > 240 ? `${details.slice(0, 240)}…` : details,
          ),
        ),
      );
    }
    before = page.nextBefore;
    fill(
      list,
      rows.length === 0
        ? empty('Nothing recorded matches.')
        : table(['When (UTC)', 'Actor', 'Action', 'Target', 'Outcome', 'Details'], rows),
      before === null
        ? null
        : on(h('button', { type: 'button', class: 'secondary' }, 'Older entries'), 'click', () => {
            void load(false);
          }),
    );
  }
  await load(true);
  refreshOn(
    ctx,
    (e) => e.type === 'rollout.action' || e.type === 'rollout.created',
    () => load(true),
    1000,
  );
};
