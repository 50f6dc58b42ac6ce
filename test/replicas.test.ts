/**
 * Two control-plane replicas over one PostgreSQL database and one broker (ARCHITECTURE §2: "one
 * scheduler leader at a time (PostgreSQL advisory lock)"): exactly one leads, a rollout created through
 * the follower's API is driven by the leader, the follower takes over when the leader stops, and a
 * leader whose lock connection is killed gives the leadership up and competes again.
 *
 * The broker is a standalone embedded broker (not one owned by a replica), so closing the leader
 * leaves the fleet connected. Both replicas share one data dir: the signing keys and artifacts live
 * there (PGlite is not used with DATABASE_URL); a real cluster shares them the same way (a volume).
 * Needs DATABASE_URL; each run gets a scratch database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { OrtInProcessRuntime } from '@edgefleet/agent';
import {
  loadServerConfig,
  startEmbeddedBroker,
  startServer,
  type EmbeddedBroker,
  type RunningServer,
} from '@edgefleet/control-plane';
import {
  ControlPlaneHttp,
  DEMO_BIAS,
  DEMO_WEIGHTS,
  Fleet,
  SensorGenerator,
  SharedRuntime,
} from '@edgefleet/fleet-sim';
import { linearClassifier } from '@edgefleet/protocol';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createScratchDatabase,
  type ScratchDatabase,
} from '../control-plane/src/db/scratch-database.test-support.js';
import { SCHEDULER_LOCK_KEY } from '../control-plane/src/server/leadership.js';

const DATABASE_URL = process.env.DATABASE_URL;
const LEADER_POLL_MS = 200;

interface Replica {
  readonly name: string;
  readonly server: RunningServer;
  /** The replica's log lines (pino JSON). */
  readonly logs: string[];
  closed: boolean;
}

/** Poll `condition` until it holds; fail with `what` after `ms`. */
async function eventually(what: string, ms: number, condition: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Run a cleanup step; if it takes over 15 s, print what it is (and `context`) before waiting on. */
async function step(
  what: string,
  fn: () => Promise<unknown> | undefined,
  context: () => unknown = () => undefined,
): Promise<void> {
  const slow = setTimeout(() => {
    console.error(`cleanup step still running after 15 s: ${what}`, context());
  }, 15_000);
  try {
    await fn();
  } finally {
    clearTimeout(slow);
  }
}

const logMessages = (r: Replica): string[] =>
  r.logs.map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '');

describe.skipIf(DATABASE_URL === undefined)(
  `control-plane replicas${DATABASE_URL === undefined ? ' (skipped: set DATABASE_URL to a PostgreSQL server)' : ''}`,
  () => {
    let scratch: ScratchDatabase | undefined;
    let dir: string;
    let broker: EmbeddedBroker | undefined;
    const replicas: Replica[] = [];
    let fleet: Fleet | undefined;
    let runtime: SharedRuntime | undefined;

    const open = () => replicas.filter((r) => !r.closed);
    const leaders = () => open().filter((r) => r.server.isLeader());

    async function startReplica(name: string, url: string): Promise<Replica> {
      const logs: string[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      });
      const server = await startServer(
        loadServerConfig(
          {
            dataDir: join(dir, 'shared-data'),
            httpPort: 0,
            databaseUrl: url,
            mqttUrl: broker!.url,
            mqttUsername: controlPlane.username,
            mqttPassword: controlPlane.password,
            leaderPollMs: LEADER_POLL_MS,
          },
          {},
        ),
        { logger: pino({ level: 'info' }, sink) },
      );
      const replica: Replica = { name, server, logs, closed: false };
      replicas.push(replica);
      return replica;
    }

    const controlPlane = {
      username: 'edgefleet-control-plane',
      password: randomBytes(24).toString('base64url'),
    };

    beforeAll(async () => {
      scratch = await createScratchDatabase(DATABASE_URL!);
      dir = await mkdtemp(join(tmpdir(), 'ef-replicas-'));
      broker = await startEmbeddedBroker({
        port: 0,
        host: '127.0.0.1',
        // Device credentials are in the shared database: any open replica can check them.
        authenticateDevice: (id, token) =>
          open()[0]!.server.services.authenticator.verifyDevice(id, token),
        controlPlaneCredentials: controlPlane,
        logger: pino({ level: 'silent' }),
      });
      // Sequential starts: the first creates the keys and the admin token in the shared data dir.
      await startReplica('a', scratch.url);
      await startReplica('b', scratch.url);
    }, 60_000);

    afterAll(async () => {
      // Each step names itself if it hangs, so a stuck close says which part is stuck.
      await step('stop the fleet', () => fleet?.stop());
      await step('close the runtime', () => runtime?.close());
      for (const r of open()) {
        await step(
          `close replica ${r.name}`,
          () => r.server.close(),
          () => r.logs.slice(-20),
        );
      }
      await step('close the broker', () => broker?.close());
      await step('drop the scratch database', () => scratch?.drop());
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 120_000);

    it('elects exactly one scheduler leader, the replica that started first', () => {
      expect(leaders().map((r) => r.name)).toEqual(['a']);
      expect(logMessages(replicas[0]!)).toContain('became the scheduler leader');
      expect(logMessages(replicas[1]!)).toContain(
        'another replica is the scheduler leader; following',
      );
    });

    it('completes a rollout created through the follower, across a leader failover', async () => {
      const [a, b] = replicas as [Replica, Replica];
      const api = new ControlPlaneHttp(b.server.httpUrl, a.server.adminToken!);
      await api.upload(
        '/v1/models/sensor/versions',
        { version: '1' },
        {
          model: {
            name: 'm.onnx',
            bytes: linearClassifier({
              features: 4,
              classes: 3,
              weights: DEMO_WEIGHTS,
              bias: DEMO_BIAS,
            }),
          },
          reference: { name: 'ref.csv', bytes: new SensorGenerator(1).csv(200) },
        },
      );
      const enroll = await api.json<{ token: string }>('POST', '/v1/enrollment-tokens', {
        maxUses: 10,
      });
      runtime = new SharedRuntime(new OrtInProcessRuntime());
      fleet = await Fleet.enroll({
        apiUrl: b.server.httpUrl,
        enrollToken: enroll.token,
        devices: 4,
        stateDir: join(dir, 'devices'),
        runtime,
        telemetryIntervalSec: 3600,
      });
      await fleet.start();
      const release = await api.json<{ releaseId: string }>('POST', '/v1/releases', {
        model: 'sensor',
        version: '1',
      });
      const rollout = await api.json<{ id: string }>('POST', '/v1/rollouts', {
        releaseId: release.releaseId,
        selector: '',
        waves: [
          { name: 'canary', size: { count: 1 }, soak: { minInferences: 2 } },
          { name: 'all', size: { percent: 100 }, soak: { minInferences: 2 } },
        ],
        rate: { maxPerMinute: 600 },
      });
      const progress = () =>
        api.json<{ state: string; counts: Record<string, number> }>(
          'GET',
          `/v1/rollouts/${rollout.id}`,
        );
      const drive = async () => {
        await fleet!.traffic({ batches: 2, rows: 4 });
        await Promise.all(open().map((r) => r.server.ingest.flush()));
      };

      // Replica a (the leader) starts the rollout: a device succeeds in the canary wave.
      await eventually('the leader to drive the canary wave', 45_000, async () => {
        await drive();
        return ((await progress()).counts.succeeded ?? 0) >= 1;
      });

      // Stop the leader mid-rollout: b takes over within a few lock polls.
      const stoppedAt = Date.now();
      a.closed = true;
      await a.server.close();
      await eventually('the follower to become leader', 10_000, () => b.server.isLeader());
      const failoverMs = Date.now() - stoppedAt;
      expect(failoverMs).toBeLessThan(10_000);
      expect(logMessages(b)).toContain('became the scheduler leader');

      let last = await progress();
      await eventually('the new leader to complete the rollout', 45_000, async () => {
        await drive();
        last = await progress();
        return last.state === 'completed';
      });
      expect(last.counts).toEqual({ succeeded: 4 });
      expect(fleet.releaseCounts()).toEqual({ [release.releaseId]: 4 });
    }, 120_000);

    it('gives up leadership when its lock connection is lost, then takes it again', async () => {
      const b = replicas[1]!;
      expect(b.server.isLeader()).toBe(true);
      const admin = postgres(scratch!.url, { max: 1, onnotice: () => undefined });
      try {
        const holders = await admin<{ pid: number }[]>`
          select pid from pg_locks
          where locktype = 'advisory' and granted and objsubid = 1
            and database = (select oid from pg_database where datname = current_database())
            and ((classid::bigint << 32) | objid::bigint) = ${SCHEDULER_LOCK_KEY}::bigint`;
        expect(holders).toHaveLength(1);
        // A query of its own: in one statement the planner may call it on other rows first.
        await admin`select pg_terminate_backend(${holders[0]!.pid}::int)`;
      } finally {
        await admin.end();
      }
      await eventually('the leader to notice the lost lock', 10_000, () =>
        logMessages(b).some((m) => m.startsWith('lost the scheduler leadership')),
      );
      await eventually('the replica to lead again', 30_000, () => b.server.isLeader()).catch(
        (err: unknown) => {
          // Say what the replica was doing: the log names a loop that did not stop.
          throw new Error(`${String(err)}; its last log lines:\n${b.logs.slice(-20).join('\n')}`);
        },
      );
      expect(logMessages(b).filter((m) => m === 'became the scheduler leader')).toHaveLength(2);
    }, 60_000);
  },
);
