/**
 * `edgefleet server`: opens the database (PGlite in the data dir, or PostgreSQL), the artifact store and
 * the keyring, starts the embedded broker (or connects to MQTT_URL), serves the HTTP API, and shuts all
 * of it down in order on `close()`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { EdgefleetError, MetricsRegistry } from '@edgefleet/protocol';
import type { Logger } from 'pino';
import type { Services } from '../api/services.js';
import { publishTrustRoot } from '../api/trust.js';
import { createAuthenticator } from '../auth/authenticate.js';
import { ensureAdminToken } from '../auth/bootstrap.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded.js';
import type { ServerConfig } from '../config.js';
import { appendAudit } from '../db/audit.js';
import type { DriftEvent } from '../db/schema.js';
import { openDatabase, type OpenedDatabase } from '../db/open.js';
import { createApp } from '../http/app.js';
import { Keyring } from '../keys/keyring.js';
import { createLogger } from '../logger.js';
import { FsArtifactStore } from '../registry/artifact-store.js';
import {
  connectControlPlaneClient,
  inProcessControlPlaneClient,
  type ControlPlaneClient,
} from './broker-link.js';
import { DriftEvaluator } from '../drift/evaluator.js';
import { TelemetryIngest } from '../telemetry/ingest.js';
import { ReleaseOutputs } from '../telemetry/release-outputs.js';
import { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { markRetrainingRequestDelivered, pruneDriftHistory } from '../drift/store.js';
import { createReferenceProfiles } from './reference-profiles.js';
import { subscribeDeviceTopics } from './device-messages.js';
import { createDirectivePublisher } from './directives.js';
import { EventBus } from './events.js';
import { createHealthSource } from './health-source.js';
import { SCHEDULER_LOCK_KEY, startLeadership, type Leadership } from './leadership.js';
import { RetentionLoop } from './retention.js';
import { createRolloutEngine, type RolloutEngine, type TickReport } from '../rollouts/engine.js';
import { recordDeploymentReport, recordStateReport } from '../rollouts/reports.js';
import { buildRelease } from '../releases/build-release.js';
import { allRoutes } from './routes.js';

export const VERSION = '0.1.0';

export interface RunningServer {
  readonly httpUrl: string;
  readonly mqttUrl: string;
  readonly services: Services;
  /** The bootstrap admin token, when it was created by this start. */
  readonly adminToken: string | undefined;
  readonly adminTokenFile: string | undefined;
  readonly broker: EmbeddedBroker | undefined;
  readonly mqtt: ControlPlaneClient;
  readonly engine: RolloutEngine;
  readonly ingest: TelemetryIngest;
  readonly evaluator: DriftEvaluator;
  readonly events: EventBus;
  /**
   * Whether this replica runs the scheduler (rollout engine, drift evaluator, webhook dispatcher).
   * Always true with PGlite; with PostgreSQL, true on the one replica holding the advisory lock.
   */
  isLeader(): boolean;
  close(): Promise<void>;
}

/**
 * Wait for the named loops to stop; every 5 s, say which are still running (a loop stuck in a
 * database query or a publish would otherwise hold leadership hand-over up without a trace).
 */
async function stopAll(loops: Record<string, Promise<void>>, logger: Logger): Promise<void> {
  const pending = new Set(Object.keys(loops));
  const watchdog = setInterval(() => {
    logger.warn(
      { pending: [...pending] },
      'still waiting for scheduler loops to finish their pass before stopping',
    );
  }, 5000);
  watchdog.unref();
  try {
    await Promise.all(
      Object.entries(loops).map(([name, done]) =>
        done.finally(() => {
          pending.delete(name);
        }),
      ),
    );
  } finally {
    clearInterval(watchdog);
  }
}

function listen(server: ServerType): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      reject(e);
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function portInUse(what: string, port: number, flag: string, cause: unknown): EdgefleetError {
  return new EdgefleetError(
    'EF_CONFLICT',
    `the ${what} port ${port} is already in use: stop what holds it, or start with ${flag} <port> (0 picks a free one)`,
    { cause },
  );
}

export async function startServer(
  config: ServerConfig,
  options: { logger?: Logger } = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        logger.error({ err }, 'error during shutdown');
      }
    }
  };
  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const opened: OpenedDatabase = await openDatabase({
      ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir }),
      logger,
    });
    closers.push(() => opened.close());
    await opened.migrate();
    const db = opened.db;
    logger.info({ database: opened.kind, dataDir: config.dataDir }, 'database ready');

    const artifacts = new FsArtifactStore(join(config.dataDir, 'artifacts'));
    const keyring = await Keyring.open({ db, dataDir: config.dataDir, logger });
    const boot = await ensureAdminToken(db, config.dataDir, config.adminToken);
    const authenticator = createAuthenticator(db);
    const metrics = new MetricsRegistry();
    const events = new EventBus();
    /** A deployment report on the event stream (the dashboard and tests follow devices with it). */
    const emitDeploymentStatus = (data: {
      deviceId: string;
      releaseId: string;
      state: string;
      reason: string | null;
      outcome: string;
    }) => {
      events.emit({ type: 'deployment.status', data });
    };
    const releaseOutputs = new ReleaseOutputs(db);
    const ingest = new TelemetryIngest({
      db,
      releaseOutputs,
      logger,
      metrics,
      onStatus: async (m) => {
        const r = await recordDeploymentReport(db, {
          deviceId: m.deviceId,
          directiveCounter: m.directiveCounter,
          state: m.state,
          ...(m.reason ? { reason: m.reason } : {}),
          at: new Date(m.at),
        });
        emitDeploymentStatus({
          deviceId: m.deviceId,
          releaseId: m.releaseId,
          state: m.state,
          reason: m.reason ?? null,
          outcome: r.outcome,
        });
      },
      onState: async (m) => {
        // Makes up for a status report lost with a broker that died (see recordStateReport).
        const r = await recordStateReport(db, { ...m, at: new Date(m.at) });
        // Only news: every connect repeats the state, which must not look like a second report.
        if (r?.outcome === 'applied' && r.changed && m.deployment !== null) {
          emitDeploymentStatus({
            deviceId: m.deviceId,
            releaseId: m.deployment.releaseId,
            state: m.deployment.state,
            reason: null,
            outcome: r.outcome,
          });
        }
      },
    });
    closers.push(() => ingest.close());

    // The broker: embedded (default) or external.
    let broker: EmbeddedBroker | undefined;
    let mqttUrl: string;
    const cpUser = config.mqttUsername ?? 'edgefleet-control-plane';
    const cpPassword = config.mqttPassword ?? randomBytes(24).toString('base64url');
    if (config.mqttUrl) {
      mqttUrl = config.mqttUrl;
    } else {
      try {
        broker = await startEmbeddedBroker({
          port: config.mqttPort,
          host: config.mqttHost,
          authenticateDevice: (id, token) => authenticator.verifyDevice(id, token),
          controlPlaneCredentials: { username: cpUser, password: cpPassword },
          connectRateLimit: { perSecond: 2000, burst: 20_000 },
          logger,
          onPresence: (deviceId, online) => {
            ingest.presence(deviceId, online);
          },
        });
      } catch (e) {
        if (
          (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ||
          /in use/i.test((e as Error).message)
        ) {
          throw portInUse('MQTT', config.mqttPort, '--mqtt-port', e);
        }
        throw e;
      }
      const b = broker;
      closers.push(() => b.close());
      mqttUrl = `mqtt://${config.mqttHost === '0.0.0.0' ? '127.0.0.1' : config.mqttHost}:${b.port}`;
    }
    const disconnectDevice = (deviceId: string) => {
      broker?.disconnectDevice(deviceId).catch((err: unknown) => {
        logger.warn({ err, deviceId }, 'could not close the MQTT session');
      });
    };
    const mqtt =
      broker === undefined
        ? await connectControlPlaneClient(
            { url: mqttUrl, username: cpUser, password: cpPassword, logger },
            disconnectDevice,
          )
        : inProcessControlPlaneClient(broker, logger, disconnectDevice);
    closers.push(() => mqtt.close());
    // Shared subscriptions split the messages between replicas on an external broker; an embedded
    // broker has one subscriber, this process.
    await subscribeDeviceTopics(
      mqtt,
      ingest,
      logger,
      broker === undefined ? config.sharedSubscriptionGroup : undefined,
    );

    const dispatcher = new WebhookDispatcher({
      db,
      logger,
      metrics,
      onDelivered: async (d) => {
        await markRetrainingRequestDelivered(db, d);
      },
    });
    const evaluator = new DriftEvaluator({
      db,
      logger,
      metrics,
      referenceProfile: createReferenceProfiles(db, artifacts),
      onChanges: (changes) => {
        dispatcher.notify();
        const brief = (e: DriftEvent) => ({
          id: e.id,
          model: e.modelName,
          releaseId: e.releaseId,
          cohort: e.cohort,
          featureSet: e.featureSet,
          feature: e.feature,
          status: e.status,
        });
        for (const e of changes.opened) events.emit({ type: 'drift.opened', data: brief(e) });
        for (const e of changes.updated) events.emit({ type: 'drift.updated', data: brief(e) });
        for (const e of changes.resolved) events.emit({ type: 'drift.resolved', data: brief(e) });
        for (const r of changes.retrainingRequests) {
          events.emit({
            type: 'retraining.requested',
            data: { id: r.id, model: r.modelName, releaseId: r.releaseId, cohort: r.cohort },
          });
        }
      },
    });

    // HTTP: bind first (port 0 resolves), then build the app with the URLs devices must use.
    const settings = {
      maxUploadBytes: config.maxUploadBytes,
      deviceMqttUrl: config.deviceMqttUrl ?? mqttUrl,
      publicUrl: config.publicUrl ?? '',
    };
    const services: Services = {
      db,
      artifacts,
      authenticator,
      broker: mqtt,
      keyring,
      logger,
      metrics,
      now: () => new Date(),
      settings,
    };
    const engine: RolloutEngine = createRolloutEngine({
      db,
      logger,
      publishDirective: createDirectivePublisher({ keyring, broker: mqtt, now: () => new Date() }),
      createRollbackRelease: ({ from, to }) =>
        buildRelease(services, {
          model: from.modelName,
          version: to.modelVersion,
          createdBy: 'fleet-rollback',
        }),
      health: createHealthSource(db, releaseOutputs),
    });
    /** Tell event-stream subscribers (the dashboard) which rollouts a scheduler tick changed. */
    const emitTick = (report: TickReport) => {
      const changed = report.rollouts.filter((r) => r.applied.length > 0).map((r) => r.rolloutId);
      if (changed.length > 0 || report.rollbacks.length > 0) {
        events.emit({
          type: 'rollout.tick',
          data: { rollouts: changed, rollbacks: report.rollbacks, published: report.published },
        });
      }
    };
    const retention = new RetentionLoop({
      policy: {
        deviceWindowDays: config.deviceWindowRetentionDays,
        aggregateDays: config.aggregateRetentionDays,
        driftHistoryDays: config.driftRetentionDays,
      },
      targets: {
        telemetry: async (deviceWindows, aggregates) => ({
          ...(await ingest.pruneOlderThan(deviceWindows, aggregates)),
        }),
        driftHistory: (before) => pruneDriftHistory(db, before),
      },
      logger,
    });
    // Only the leader runs the loops (see leadership.ts); HTTP, ingest and MQTT run everywhere.
    let stopEngine: (() => Promise<void>) | undefined;
    const duties = {
      start() {
        dispatcher.start();
        evaluator.start();
        retention.start();
        stopEngine = engine.start(1000, emitTick);
      },
      async stop() {
        const stop = stopEngine;
        stopEngine = undefined;
        await stopAll(
          {
            'rollout engine': stop?.() ?? Promise.resolve(),
            'drift evaluator': evaluator.stop(),
            'webhook dispatcher': dispatcher.stop(),
            retention: retention.stop(),
          },
          logger,
        );
      },
    };
    /** Set once leadership starts (after the HTTP API is up). */
    const leader = { isLeader: (): boolean => false };
    const kick = () => {
      // A follower's tick would race the leader's; the leader's loop picks the change up within 1 s.
      if (!leader.isLeader()) return;
      engine.tick().then(
        (report) => {
          emitTick(report);
        },
        (err: unknown) => {
          logger.warn({ err }, 'rollout tick failed');
        },
      );
    };
    const app = createApp({
      routes: allRoutes(services, {
        webhooks: () => {
          dispatcher.notify();
        },
        kick,
        events,
      }),
      logger,
      metrics,
      version: VERSION,
      dashboard: {},
      authenticate: authenticator,
      audit: async (r) => {
        await appendAudit(db, {
          actor: r.actor,
          action: r.action,
          target: r.target,
          outcome: r.outcome,
          details: { status: r.status, ...(r.details ?? {}) },
        });
      },
      health: async () => {
        await db.execute('select 1');
        return { database: opened.kind, broker: broker ? 'embedded' : 'external' };
      },
    });
    const http = serve({ fetch: app.fetch, port: config.httpPort, hostname: config.httpHost });
    let address: AddressInfo;
    try {
      address = await listen(http);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
        throw portInUse('HTTP', config.httpPort, '--http-port', e);
      throw e;
    }
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          http.close(() => {
            resolve();
          });
          (http as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );
    const host = config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost;
    const httpUrl = `http://${host}:${address.port}`;
    settings.publicUrl = config.publicUrl ?? httpUrl;

    await publishTrustRoot(services);
    const { tryLock } = opened;
    const leadership: Leadership = await startLeadership({
      tryLock: tryLock && (() => tryLock(SCHEDULER_LOCK_KEY)),
      duties,
      logger,
      pollMs: config.leaderPollMs,
    });
    leader.isLeader = () => leadership.isLeader();
    closers.push(() => leadership.close());
    if (boot.created) {
      logger.warn(
        { file: boot.file },
        'created the bootstrap admin token (shown once; also written to the file, mode 0600)',
      );
    }
    logger.info(
      { http: httpUrl, mqtt: mqttUrl, database: opened.kind },
      'edgefleet control plane listening',
    );

    let closed = false;
    return {
      httpUrl,
      mqttUrl,
      services,
      adminToken: boot.created,
      adminTokenFile: boot.file,
      broker,
      mqtt,
      engine,
      ingest,
      evaluator,
      events,
      isLeader: () => leadership.isLeader(),
      async close() {
        if (closed) return;
        closed = true;
        logger.info('shutting down');
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
