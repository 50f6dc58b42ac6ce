import { DEPLOYMENT_STATES } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  DEVICE_DEPLOYMENT_STATES,
  ROLLOUT_STATES,
  WAVE_STATES,
  type DeviceDeploymentState,
  type RolloutState,
  type WaveState,
} from '../db/schema.js';
import {
  deploymentTransition,
  rolloutTransition,
  waveTransition,
  type DeploymentEvent,
  type RolloutEvent,
  type WaveEvent,
} from './machines.js';

/** Every event of each machine, one representative per type. */
const ROLLOUT_EVENTS: Record<RolloutEvent['type'], RolloutEvent> = {
  start: { type: 'start', approvalRequired: false },
  approve: { type: 'approve' },
  awaitApproval: { type: 'awaitApproval' },
  pause: { type: 'pause', reason: 'operator' },
  resume: { type: 'resume' },
  complete: { type: 'complete' },
  cancel: { type: 'cancel' },
  abort: { type: 'abort', reason: 'abort_criteria' },
  supersede: { type: 'supersede', by: 'r2' },
};

/** The allowed rollout moves: state -> event -> next state. Everything else is refused. */
const ROLLOUT_ALLOWED: Record<RolloutState, Partial<Record<RolloutEvent['type'], RolloutState>>> = {
  draft: { start: 'running', cancel: 'cancelled', supersede: 'superseded' },
  awaiting_approval: {
    approve: 'running',
    cancel: 'cancelled',
    abort: 'aborted',
    supersede: 'superseded',
  },
  running: {
    awaitApproval: 'awaiting_approval',
    pause: 'paused',
    complete: 'completed',
    cancel: 'cancelled',
    abort: 'aborted',
    supersede: 'superseded',
  },
  paused: { resume: 'running', cancel: 'cancelled', abort: 'aborted', supersede: 'superseded' },
  completed: {},
  aborted: {},
  cancelled: {},
  superseded: {},
};

describe('rolloutTransition', () => {
  for (const state of ROLLOUT_STATES) {
    for (const event of Object.values(ROLLOUT_EVENTS)) {
      const expected = ROLLOUT_ALLOWED[state][event.type];
      it(`${state} + ${event.type} -> ${expected ?? 'refused'}`, () => {
        const t = rolloutTransition(state, event);
        if (expected === undefined) {
          expect(t.ok).toBe(false);
          if (!t.ok) {
            expect(t.code).toBe('EF_CONFLICT');
            expect(t.message).toBe(`A rollout in state ${state} cannot ${event.type}.`);
          }
        } else {
          expect(t.ok && t.value.state).toBe(expected);
        }
      });
    }
  }

  it('goes to awaiting_approval when the first wave needs approval', () => {
    const t = rolloutTransition('draft', { type: 'start', approvalRequired: true });
    expect(t.ok && t.value).toEqual({ state: 'awaiting_approval', effects: [] });
  });

  it('records the start when running, and the approval when approved', () => {
    const started = rolloutTransition('draft', { type: 'start', approvalRequired: false });
    expect(started.ok && started.value.effects).toEqual([{ type: 'markStarted' }]);
    const approved = rolloutTransition('awaiting_approval', { type: 'approve' });
    expect(approved.ok && approved.value.effects).toEqual([
      { type: 'markStarted' },
      { type: 'recordApproval' },
    ]);
  });

  it('starts the fleet rollback on abort', () => {
    const t = rolloutTransition('running', { type: 'abort', reason: 'abort_criteria' });
    expect(t.ok && t.value.effects).toEqual([
      { type: 'recordReason', reason: 'abort_criteria' },
      { type: 'startFleetRollback' },
      { type: 'markFinished' },
    ]);
  });

  it('withdraws unsent directives when superseded or cancelled', () => {
    const superseded = rolloutTransition('paused', { type: 'supersede', by: 'r2' });
    expect(superseded.ok && superseded.value.effects).toContainEqual({
      type: 'withdrawUnpublished',
      reason: 'superseded',
    });
    expect(superseded.ok && superseded.value.effects).toContainEqual({
      type: 'recordSupersededBy',
      by: 'r2',
    });
    const cancelled = rolloutTransition('running', { type: 'cancel' });
    expect(cancelled.ok && cancelled.value.effects).toContainEqual({
      type: 'withdrawUnpublished',
      reason: 'cancelled',
    });
  });

  it('records why it paused', () => {
    const t = rolloutTransition('running', { type: 'pause', reason: 'wave_failed' });
    expect(t.ok && t.value.effects).toEqual([{ type: 'recordReason', reason: 'wave_failed' }]);
  });
});

const WAVE_EVENTS: readonly WaveEvent[] = [
  { type: 'start' },
  { type: 'soak' },
  { type: 'pass' },
  { type: 'fail' },
  { type: 'promote' },
  { type: 'retry' },
];

const WAVE_ALLOWED: Record<WaveState, Partial<Record<WaveEvent['type'], WaveState>>> = {
  pending: { start: 'running' },
  running: { soak: 'soaking', promote: 'passed' },
  soaking: { pass: 'passed', fail: 'failed', promote: 'passed' },
  passed: {},
  failed: { promote: 'passed', retry: 'running' },
};

describe('waveTransition', () => {
  for (const state of WAVE_STATES) {
    for (const event of WAVE_EVENTS) {
      const expected = WAVE_ALLOWED[state][event.type];
      it(`${state} + ${event.type} -> ${expected ?? 'refused'}`, () => {
        const t = waveTransition(state, event);
        if (expected === undefined) {
          expect(t.ok).toBe(false);
          if (!t.ok) expect(t.code).toBe('EF_CONFLICT');
        } else {
          expect(t.ok && t.value.state).toBe(expected);
        }
      });
    }
  }

  it('marks the times of start, soak and finish, and reopens on retry', () => {
    const effects = (state: WaveState, event: WaveEvent) => {
      const t = waveTransition(state, event);
      return t.ok ? t.value.effects : undefined;
    };
    expect(effects('pending', { type: 'start' })).toEqual([{ type: 'markStarted' }]);
    expect(effects('running', { type: 'soak' })).toEqual([{ type: 'markSoakStarted' }]);
    expect(effects('soaking', { type: 'fail' })).toEqual([{ type: 'markFinished' }]);
    expect(effects('failed', { type: 'retry' })).toEqual([{ type: 'reopen' }]);
  });
});

const FINAL = new Set<DeviceDeploymentState>(['succeeded', 'failed', 'rolled_back', 'timed_out']);
const ORDER: readonly DeviceDeploymentState[] = [
  'pending',
  'assigned',
  'downloading',
  'verifying',
  'staged',
  'activating',
  'soaking',
];

/** What a report of `target` does to a deployment in `state`: the next state, or refused. */
function expectedReport(
  state: DeviceDeploymentState,
  target: DeviceDeploymentState,
): DeviceDeploymentState | undefined {
  if (target === state) return state;
  if (FINAL.has(state)) return undefined;
  if (FINAL.has(target)) return target;
  return ORDER.indexOf(target) > ORDER.indexOf(state) ? target : undefined;
}

describe('deploymentTransition', () => {
  it('knows every stored state', () => {
    expect([...DEVICE_DEPLOYMENT_STATES].sort()).toEqual(
      [...ORDER, 'succeeded', 'failed', 'rolled_back', 'timed_out'].sort(),
    );
  });

  for (const state of DEVICE_DEPLOYMENT_STATES) {
    for (const target of DEPLOYMENT_STATES) {
      const expected = expectedReport(state, target);
      it(`${state} + report ${target} -> ${expected ?? 'refused'}`, () => {
        const t = deploymentTransition(state, { type: 'report', state: target });
        expect(t.ok ? t.value.state : undefined).toBe(expected);
      });
    }

    const others: readonly [DeploymentEvent, DeviceDeploymentState | undefined][] = [
      [{ type: 'timeout' }, FINAL.has(state) ? undefined : 'timed_out'],
      [{ type: 'withdraw', reason: 'superseded' }, FINAL.has(state) ? undefined : 'failed'],
      [{ type: 'retry' }, state === 'failed' || state === 'timed_out' ? 'pending' : undefined],
    ];
    for (const [event, expected] of others) {
      it(`${state} + ${event.type} -> ${expected ?? 'refused'}`, () => {
        const t = deploymentTransition(state, event);
        expect(t.ok ? t.value.state : undefined).toBe(expected);
      });
    }
  }

  it('accepts a repeated report without effects', () => {
    const t = deploymentTransition('downloading', { type: 'report', state: 'downloading' });
    expect(t.ok && t.value).toEqual({ state: 'downloading', effects: [] });
  });

  it('records the reason of a final report and of a timeout', () => {
    const failed = deploymentTransition('verifying', {
      type: 'report',
      state: 'failed',
      reason: 'hash_mismatch',
    });
    expect(failed.ok && failed.value.effects).toEqual([
      { type: 'recordReason', reason: 'hash_mismatch' },
      { type: 'markFinished' },
    ]);
    const timedOut = deploymentTransition('pending', { type: 'timeout' });
    expect(timedOut.ok && timedOut.value.effects).toEqual([
      { type: 'recordReason', reason: 'timed_out' },
      { type: 'markFinished' },
    ]);
  });

  it('issues a new directive on retry', () => {
    const t = deploymentTransition('timed_out', { type: 'retry' });
    expect(t.ok && t.value.effects).toEqual([{ type: 'issueDirective' }]);
  });

  it('refuses a stale report with a message naming it', () => {
    const t = deploymentTransition('staged', { type: 'report', state: 'downloading' });
    expect(!t.ok && t.message).toBe('A deployment in state staged cannot report downloading.');
  });
});
