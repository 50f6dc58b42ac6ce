/**
 * The three state machines of a rollout as the control plane keeps them (ARCHITECTURE §4): the
 * rollout, its waves, and each device's deployment. One pure transition function each:
 * `transition(state, event)` gives the next state and the effects the caller must carry out (set a
 * timestamp, withdraw unsent directives, start the fleet rollback, ...), or a Failure (EF_CONFLICT)
 * naming the refused move. Nothing here touches the database; store.ts, tick.ts and reports.ts apply the effects.
 */
import {
  fail,
  ok,
  type DeploymentReason,
  type DeploymentState,
  type Result,
} from '@edgefleet/protocol';
import type { DeviceDeploymentState, RolloutState, WaveState } from '../db/schema.js';

/** A move the machine allows: the next state and what must happen because of it. */
export interface Transition<S, E> {
  readonly state: S;
  readonly effects: readonly E[];
}

function to<S, E>(state: S, ...effects: E[]): Result<Transition<S, E>> {
  return ok({ state, effects });
}

function refuse(machine: string, state: string, event: string): Result<never> {
  return fail('EF_CONFLICT', `A ${machine} in state ${state} cannot ${event}.`, {
    machine,
    state,
    event,
  });
}

// --- Rollout ----------------------------------------------------------------------------------------

/**
 * Rollout lifecycle:
 *
 *   draft -> awaiting_approval -> running <-> paused -> completed
 *                    ^               |
 *                    +---------------+   (approval between waves)
 *
 * and from any non-final state `cancelled` (operator), `aborted` (criteria tripped or operator: fleet
 * rollback) or `superseded` (a newer rollout of the same model). `completed`, `aborted`, `cancelled` and
 * `superseded` are final.
 */
export type RolloutEvent =
  /** Leave `draft`; `approvalRequired` when the first wave needs an operator's approval. */
  | { readonly type: 'start'; readonly approvalRequired: boolean }
  /** An operator approved the next wave. */
  | { readonly type: 'approve' }
  /** The next wave needs approval (between waves). */
  | { readonly type: 'awaitApproval' }
  | { readonly type: 'pause'; readonly reason: string }
  | { readonly type: 'resume' }
  /** Every wave passed. */
  | { readonly type: 'complete' }
  | { readonly type: 'cancel' }
  | { readonly type: 'abort'; readonly reason: string }
  | { readonly type: 'supersede'; readonly by: string };

export type RolloutEffect =
  /** Record the start time (first time only). */
  | { readonly type: 'markStarted' }
  | { readonly type: 'markFinished' }
  /** Record the approval on the rollout and on the wave about to start. */
  | { readonly type: 'recordApproval' }
  | { readonly type: 'recordReason'; readonly reason: string }
  /** Directives not yet handed to the broker are never sent: their deployments end `failed(reason)`. */
  | { readonly type: 'withdrawUnpublished'; readonly reason: 'superseded' | 'cancelled' }
  /** Send every device this rollout moved back to its previous release (through a new release). */
  | { readonly type: 'startFleetRollback' }
  | { readonly type: 'recordSupersededBy'; readonly by: string };

/** Rollout states in which the scheduler works on the rollout. */
export const ACTIVE_ROLLOUT_STATES = [
  'awaiting_approval',
  'running',
  'paused',
] as const satisfies readonly RolloutState[];

export const FINAL_ROLLOUT_STATES = [
  'completed',
  'aborted',
  'cancelled',
  'superseded',
] as const satisfies readonly RolloutState[];

export function isFinalRolloutState(state: RolloutState): boolean {
  return (FINAL_ROLLOUT_STATES as readonly RolloutState[]).includes(state);
}

export function rolloutTransition(
  state: RolloutState,
  event: RolloutEvent,
): Result<Transition<RolloutState, RolloutEffect>> {
  const no = () => refuse('rollout', state, event.type);
  if (isFinalRolloutState(state)) return no();
  switch (event.type) {
    case 'start':
      if (state !== 'draft') return no();
      return event.approvalRequired
        ? to('awaiting_approval')
        : to('running', { type: 'markStarted' });
    case 'approve':
      if (state !== 'awaiting_approval') return no();
      return to('running', { type: 'markStarted' }, { type: 'recordApproval' });
    case 'awaitApproval':
      if (state !== 'running') return no();
      return to('awaiting_approval');
    case 'pause':
      if (state !== 'running') return no();
      return to('paused', { type: 'recordReason', reason: event.reason });
    case 'resume':
      if (state !== 'paused') return no();
      return to('running');
    case 'complete':
      if (state !== 'running') return no();
      return to('completed', { type: 'markFinished' });
    case 'cancel':
      return to(
        'cancelled',
        { type: 'withdrawUnpublished', reason: 'cancelled' },
        { type: 'recordReason', reason: 'cancelled' },
        { type: 'markFinished' },
      );
    case 'abort':
      if (state === 'draft') return no();
      return to(
        'aborted',
        { type: 'recordReason', reason: event.reason },
        { type: 'startFleetRollback' },
        { type: 'markFinished' },
      );
    case 'supersede':
      return to(
        'superseded',
        { type: 'withdrawUnpublished', reason: 'superseded' },
        { type: 'recordSupersededBy', by: event.by },
        { type: 'recordReason', reason: 'superseded' },
        { type: 'markFinished' },
      );
  }
}

// --- Wave -------------------------------------------------------------------------------------------

/**
 * Wave lifecycle: `pending -> running -> soaking -> passed | failed`.
 *
 * - running: devices are being assigned and are installing.
 * - soaking: every member has activated the release (or finished); their device soaks are running.
 * - passed / failed: every member finished and the gate was evaluated.
 *
 * Operator overrides: `promote` passes a running, soaking or failed wave; `retry` reopens a failed wave
 * (its failed devices are sent their directive again).
 */
export type WaveEvent =
  | { readonly type: 'start' }
  | { readonly type: 'soak' }
  | { readonly type: 'pass' }
  | { readonly type: 'fail' }
  | { readonly type: 'promote' }
  | { readonly type: 'retry' };

export type WaveEffect =
  | { readonly type: 'markStarted' }
  | { readonly type: 'markSoakStarted' }
  | { readonly type: 'markFinished' }
  | { readonly type: 'reopen' };

export function waveTransition(
  state: WaveState,
  event: WaveEvent,
): Result<Transition<WaveState, WaveEffect>> {
  const no = () => refuse('wave', state, event.type);
  switch (event.type) {
    case 'start':
      return state === 'pending' ? to('running', { type: 'markStarted' }) : no();
    case 'soak':
      return state === 'running' ? to('soaking', { type: 'markSoakStarted' }) : no();
    case 'pass':
      return state === 'soaking' ? to('passed', { type: 'markFinished' }) : no();
    case 'fail':
      return state === 'soaking' ? to('failed', { type: 'markFinished' }) : no();
    case 'promote':
      return state === 'running' || state === 'soaking' || state === 'failed'
        ? to('passed', { type: 'markFinished' })
        : no();
    case 'retry':
      return state === 'failed' ? to('running', { type: 'reopen' }) : no();
  }
}

// --- Device deployment ------------------------------------------------------------------------------

/**
 * A device's deployment as the control plane sees it: `pending` (directive issued, nothing heard yet),
 * then the states the device reports (protocol/src/deployment.ts), then a final state: `succeeded`,
 * `failed`, `rolled_back`, or `timed_out` (decided here when the device stays silent too long).
 *
 * Reports may skip states (a device that was offline reports only where it got to) but never go back:
 * a report for an earlier state than the stored one is stale and refused. A repeated report of the same
 * state (QoS 1 redelivery, progress updates) is accepted and changes nothing. A final state is final;
 * only an operator retry reopens `failed` or `timed_out`.
 */
export type DeploymentEvent =
  | { readonly type: 'report'; readonly state: DeploymentState; readonly reason?: string }
  | { readonly type: 'timeout' }
  /** The control plane closes the deployment without the device (its directive was withdrawn). */
  | { readonly type: 'withdraw'; readonly reason: DeploymentReason | 'cancelled' }
  | { readonly type: 'retry' };

export type DeploymentEffect =
  | { readonly type: 'markFinished' }
  | { readonly type: 'recordReason'; readonly reason: string }
  /** Allocate a new directive counter and send the directive again. */
  | { readonly type: 'issueDirective' };

/** Position of each open state along the pipeline (reports may only move forward). */
const PIPELINE_RANK: Readonly<Record<string, number>> = {
  pending: 0,
  assigned: 1,
  downloading: 2,
  verifying: 3,
  staged: 4,
  activating: 5,
  soaking: 6,
};

export function isFinalDeploymentState(state: DeviceDeploymentState): boolean {
  return (
    state === 'succeeded' || state === 'failed' || state === 'rolled_back' || state === 'timed_out'
  );
}

export function deploymentTransition(
  state: DeviceDeploymentState,
  event: DeploymentEvent,
): Result<Transition<DeviceDeploymentState, DeploymentEffect>> {
  const no = (what: string = event.type) => refuse('deployment', state, what);
  switch (event.type) {
    case 'report': {
      const target = event.state;
      if (target === state) return to(state);
      if (isFinalDeploymentState(state)) return no(`report ${target}`);
      if (isFinalDeploymentState(target)) {
        const reason = event.reason;
        return reason === undefined
          ? to(target, { type: 'markFinished' })
          : to(target, { type: 'recordReason', reason }, { type: 'markFinished' });
      }
      return PIPELINE_RANK[target]! > PIPELINE_RANK[state]! ? to(target) : no(`report ${target}`);
    }
    case 'timeout':
      return isFinalDeploymentState(state)
        ? no()
        : to('timed_out', { type: 'recordReason', reason: 'timed_out' }, { type: 'markFinished' });
    case 'withdraw':
      return isFinalDeploymentState(state)
        ? no()
        : to('failed', { type: 'recordReason', reason: event.reason }, { type: 'markFinished' });
    case 'retry':
      return state === 'failed' || state === 'timed_out'
        ? to('pending', { type: 'issueDirective' })
        : no();
  }
}
