/**
 * `edgefleet rollouts ...`: create a staged rollout from flags, list rollouts, show (and follow) one
 * rollout's progress per wave with its gate evaluations, and the operator actions.
 */
import { CliError, type ApiClient } from './api-client.js';
import { list, positional, str, type CliContext } from './context.js';

/** Rollout states after which nothing happens without an operator (or ever again). */
const SETTLED_STATES = new Set(['completed', 'aborted', 'cancelled', 'superseded', 'paused']);
const ACTIONS = new Set([
  'start',
  'approve',
  'pause',
  'resume',
  'cancel',
  'abort',
  'promote',
  'retry',
]);
const FINAL_DEVICE_STATES = ['succeeded', 'failed', 'rolled_back', 'timed_out'];

interface WaveView {
  index: number;
  name: string;
  state: string;
  target: number | null;
  members: number;
  counts: Record<string, number>;
}

interface EvaluationView {
  kind: string;
  waveIndex: number | null;
  passed: boolean;
  checks: Record<string, unknown>[];
  evaluatedAt: string;
}

export interface RolloutStatusView {
  id: string;
  state: string;
  kind: string;
  model: string;
  releaseId: string;
  baselineReleaseId: string | null;
  fleetSize: number | null;
  rollbackOf: string | null;
  rollbackStatus: string | null;
  counts: Record<string, number>;
  waves: WaveView[];
  evaluations: EvaluationView[];
}

/** `1%,10%,50%,100%` or `5,50%,100%` into cumulative wave sizes. */
export function parseWaveSizes(text: string): ({ count: number } | { percent: number })[] {
  const items = list(text);
  if (items.length === 0) throw new CliError('--waves needs at least one size', 'EF_USAGE');
  return items.map((item) => {
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(item);
    if (percent) return { percent: Number(percent[1]) };
    if (/^\d+$/.test(item)) return { count: Number(item) };
    throw new CliError(
      `a wave size is a device count (5) or a percentage (10%), got ${JSON.stringify(item)}`,
      'EF_USAGE',
    );
  });
}

function intFlag(ctx: CliContext, name: string): number | undefined {
  const v = str(ctx.flags[name]);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new CliError(`--${name} is a whole number, got ${v}`, 'EF_USAGE');
  return Number(v);
}

/** The `POST /v1/rollouts` body the flags describe (the server validates and fills defaults). */
export function rolloutSpecFromFlags(ctx: CliContext): Record<string, unknown> {
  const releaseId = str(ctx.flags.release);
  if (releaseId === undefined || releaseId === '')
    throw new CliError('--release is required', 'EF_USAGE');
  const soak: Record<string, unknown> = {};
  const soakDuration = str(ctx.flags.soak);
  if (soakDuration !== undefined) soak.duration = soakDuration;
  const minInferences = intFlag(ctx, 'min-inferences');
  if (minInferences !== undefined) soak.minInferences = minInferences;
  const gates: Record<string, unknown> = {};
  const minSuccess = str(ctx.flags['min-success']);
  if (minSuccess !== undefined) gates.minSuccessRatio = Number(minSuccess);
  const sizes = parseWaveSizes(str(ctx.flags.waves) ?? '100%');
  const body: Record<string, unknown> = {
    releaseId,
    waves: sizes.map((size, i) => ({
      name: i === 0 && sizes.length > 1 ? 'canary' : `wave-${i + 1}`,
      size,
      soak,
      gates,
    })),
  };
  const selector = str(ctx.flags.selector);
  if (selector !== undefined) body.selector = selector;
  const spreadBy = list(ctx.flags['spread-by']);
  if (spreadBy.length > 0) body.spreadBy = spreadBy;
  const rate = intFlag(ctx, 'rate');
  if (rate !== undefined) body.rate = { maxPerMinute: rate };
  const budget = intFlag(ctx, 'budget');
  if (budget !== undefined) body.maxConcurrent = budget;
  const timeout = str(ctx.flags.timeout);
  if (timeout !== undefined) body.deviceTimeout = /^\d+$/.test(timeout) ? Number(timeout) : timeout;
  const onFailure = str(ctx.flags['on-failure']);
  if (onFailure !== undefined) {
    if (onFailure !== 'pause' && onFailure !== 'abort')
      throw new CliError('--on-failure is pause or abort', 'EF_USAGE');
    body.onFailure = onFailure;
  }
  const approval = str(ctx.flags.approval);
  if (approval !== undefined) {
    if (!['first', 'between', 'both'].includes(approval))
      throw new CliError('--approval is first, between or both', 'EF_USAGE');
    body.approval = {
      beforeFirstWave: approval !== 'between',
      betweenWaves: approval !== 'first',
    };
  }
  const baseline = str(ctx.flags.baseline);
  if (baseline !== undefined) body.baselineReleaseId = baseline;
  if (ctx.flags.draft === true) body.draft = true;
  return body;
}

function bar(done: number, total: number, width = 24): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function countsText(counts: Record<string, number>): string {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  return entries.length === 0 ? '-' : entries.map(([s, n]) => `${s}=${n}`).join(' ');
}

function checkText(c: Record<string, unknown>): string {
  const name = typeof c.metric === 'string' ? c.metric : '?';
  const verdict =
    typeof c.skipped === 'string' ? `skipped (${c.skipped})` : c.passed === false ? 'FAIL' : 'ok';
  const value = typeof c.value === 'number' ? c.value.toFixed(3) : '-';
  const threshold = typeof c.threshold === 'number' ? ` (limit ${c.threshold})` : '';
  return `${name}=${value}${threshold} ${verdict}`;
}

/** The human view of one rollout: a progress bar per wave with counts by state, then the gates. */
export function renderRollout(r: RolloutStatusView): string[] {
  const lines = [
    `rollout ${r.id} (${r.kind}) ${r.state.toUpperCase()}: ${r.model} -> ${r.releaseId}` +
      (r.baselineReleaseId ? ` (baseline ${r.baselineReleaseId})` : ''),
    `devices: ${r.fleetSize ?? '-'} matched; ${countsText(r.counts)}`,
  ];
  if (r.rollbackOf) lines.push(`fleet rollback of ${r.rollbackOf}`);
  if (r.rollbackStatus) lines.push(`fleet rollback: ${r.rollbackStatus}`);
  const nameWidth = Math.max(4, ...r.waves.map((w) => w.name.length));
  let previous = 0;
  for (const w of r.waves) {
    const cumulative = w.target ?? Math.max(r.fleetSize ?? 0, previous + w.members);
    const size = Math.max(w.members, cumulative - previous);
    previous = cumulative;
    const decided = FINAL_DEVICE_STATES.reduce((n, s) => n + (w.counts[s] ?? 0), 0);
    lines.push(
      `  ${String(w.index + 1).padStart(2)} ${w.name.padEnd(nameWidth)} ${bar(decided, size)} ${decided}/${size} ${w.state.padEnd(7)} ${countsText(w.counts)}`,
    );
  }
  if (r.evaluations.length > 0) {
    lines.push('gate evaluations:');
    for (const e of r.evaluations) {
      const wave = e.waveIndex === null ? 'rollout' : `wave ${e.waveIndex + 1}`;
      lines.push(
        `  ${e.evaluatedAt} ${e.kind} ${wave}: ${e.passed ? 'passed' : 'FAILED'}; ${e.checks.map(checkText).join(', ') || 'no checks'}`,
      );
    }
  }
  return lines;
}

function rolloutPath(id: string): string {
  return `/v1/rollouts/${encodeURIComponent(id)}`;
}

/** Poll the rollout until it settles (completed, aborted, cancelled, superseded or paused). */
async function watch(
  ctx: CliContext,
  api: ApiClient,
  id: string,
  intervalMs: number,
): Promise<RolloutStatusView> {
  let shown = '';
  for (;;) {
    const r = await api.request<RolloutStatusView>('GET', rolloutPath(id));
    const text = renderRollout(r).join('\n');
    if (!ctx.out.json && text !== shown) {
      ctx.out.line(`${shown === '' ? '' : '\n'}${new Date().toISOString()}\n${text}`);
      shown = text;
    }
    if (SETTLED_STATES.has(r.state)) return r;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Runs a `rollouts` subcommand; the exit code (a watch that ends other than completed is 1). */
export async function rolloutsCommand(ctx: CliContext, sub: string | undefined): Promise<number> {
  const api = ctx.api();
  switch (sub) {
    case 'create': {
      const r = await api.request<RolloutStatusView & { waves: number; superseded: string[] }>(
        'POST',
        '/v1/rollouts',
        rolloutSpecFromFlags(ctx),
      );
      ctx.out.result(r, () => {
        ctx.out.line(
          `created rollout ${r.id} of ${r.releaseId}: ${r.state}, ${r.waves} wave(s), ${r.fleetSize ?? '-'} device(s) matched`,
        );
        if (r.superseded.length > 0) ctx.out.line(`superseded: ${r.superseded.join(', ')}`);
      });
      return 0;
    }
    case 'list': {
      const state = str(ctx.flags.state);
      const r = await api.request<{ rollouts: Record<string, unknown>[] }>(
        'GET',
        `/v1/rollouts${state ? `?state=${encodeURIComponent(state)}` : ''}`,
      );
      ctx.out.result(r, () => {
        ctx.out.table(r.rollouts, [
          'id',
          'state',
          'kind',
          'releaseId',
          'fleetSize',
          'rollbackOf',
          'createdAt',
        ]);
      });
      return 0;
    }
    case 'status': {
      const id = positional(ctx, 0, 'rollout id (edgefleet rollouts status ID)');
      if (ctx.flags.watch === true) {
        const interval = Number(str(ctx.flags.interval) ?? '1000');
        const r = await watch(ctx, api, id, Number.isFinite(interval) ? interval : 1000);
        if (ctx.out.json) ctx.out.result(r, () => undefined);
        return r.state === 'completed' ? 0 : 1;
      }
      const r = await api.request<RolloutStatusView>('GET', rolloutPath(id));
      ctx.out.result(r, () => {
        for (const line of renderRollout(r)) ctx.out.line(line);
      });
      return 0;
    }
    default: {
      if (sub === undefined || !ACTIONS.has(sub)) {
        throw new CliError(
          `unknown command: rollouts ${sub ?? ''}`.trim(),
          'EF_USAGE',
          'try: rollouts create | list | status | start | approve | pause | resume | cancel | abort | promote | retry',
        );
      }
      const id = positional(ctx, 0, `rollout id (edgefleet rollouts ${sub} ID)`);
      const r = await api.request<{ action: string; rollout: { state: string } | null }>(
        'POST',
        `${rolloutPath(id)}/${sub}`,
        {},
      );
      ctx.out.result(r, () => {
        ctx.out.line(`${sub}: rollout ${id} is now ${r.rollout?.state ?? 'unknown'}`);
      });
      return 0;
    }
  }
}
