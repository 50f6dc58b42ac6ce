/**
 * Scheduler leadership (ARCHITECTURE §2: "one scheduler leader at a time (PostgreSQL advisory lock)").
 *
 * Every replica serves the HTTP API, ingest and MQTT; only the leader runs the background loops that
 * must not run twice (rollout engine ticks, drift evaluation, webhook delivery). With PostgreSQL the
 * leader is the replica holding a session-level advisory lock on a dedicated connection: followers try
 * to take it every `pollMs`, the leader checks every `pollMs` that it still holds it and, once its
 * connection is lost (the server then drops the lock), stops its loops and goes back to trying. With
 * PGlite (one process owns the database) the server is always the leader.
 *
 * Loss is noticed within `pollMs` (at once when the socket closes), so a tick that started before can
 * overlap the new leader's first tick: leadership is not a fencing token.
 */
import type { Logger } from 'pino';
import type { SessionLock } from '../db/open.js';

/** Advisory lock key of the scheduler leader ('EFSC'); the migration lock uses 'EFMI'. */
export const SCHEDULER_LOCK_KEY = 0x45_46_53_43;

/** What only the leader runs. */
export interface LeaderDuties {
  /** Start the loops (called on becoming leader). */
  start(): void;
  /** Stop the loops and wait for the work in progress (called on losing leadership or closing). */
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  /** Take the lock (undefined = held by another replica); omitted = always leader (PGlite). */
  readonly tryLock?: (() => Promise<SessionLock | undefined>) | undefined;
  readonly duties: LeaderDuties;
  readonly logger: Logger;
  /** How often a follower retries and a leader checks its lock. Default 3000 ms. */
  readonly pollMs?: number;
}

export interface Leadership {
  isLeader(): boolean;
  /** Stop the duties if leading, release the lock, stop trying. */
  close(): Promise<void>;
}

/**
 * Start competing for leadership. Resolves after the first attempt, so a lone replica is leader when
 * this returns.
 */
export async function startLeadership(options: LeadershipOptions): Promise<Leadership> {
  const { duties, tryLock } = options;
  const log = options.logger.child({ component: 'leadership' });
  if (tryLock === undefined) {
    duties.start();
    log.info('scheduler leader (embedded database: one process, always leader)');
    let closed = false;
    return {
      isLeader: () => !closed,
      async close() {
        if (closed) return;
        closed = true;
        await duties.stop();
      },
    };
  }

  const take = tryLock;
  const pollMs = options.pollMs ?? 3000;
  let lock: SessionLock | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let stepping: Promise<void> = Promise.resolve();

  async function step(): Promise<void> {
    if (lock === undefined) {
      let taken: SessionLock | undefined;
      try {
        taken = await take();
      } catch (err) {
        log.warn({ err }, 'could not try the scheduler lock; retrying');
        return;
      }
      if (taken === undefined) return;
      if (closed) {
        await taken.release();
        return;
      }
      lock = taken;
      log.info('became the scheduler leader');
      duties.start();
      return;
    }
    if (await lock.held()) return;
    const lost = lock;
    lock = undefined;
    log.warn('lost the scheduler leadership (database connection lost); stopping the scheduler');
    try {
      await duties.stop();
    } finally {
      await lost.release().catch(() => undefined);
    }
  }

  function schedule(): void {
    timer = setTimeout(() => {
      timer = undefined;
      stepping = step()
        .catch((err: unknown) => {
          log.error({ err }, 'leadership check failed');
        })
        .finally(() => {
          if (!closed) schedule();
        });
    }, pollMs);
    timer.unref();
  }

  stepping = step();
  await stepping;
  if (lock === undefined) log.info('another replica is the scheduler leader; following');
  schedule();

  return {
    isLeader: () => lock !== undefined && !closed,
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await stepping;
      const held = lock;
      lock = undefined;
      if (held === undefined) return;
      try {
        await duties.stop();
      } finally {
        await held.release();
        log.info('released the scheduler leadership');
      }
    },
  };
}
