/**
 * In-memory services for API tests: PGlite in memory, a temp artifact dir, a recording broker link,
 * a fixed trust root. Requests go through `app.request()` (no sockets).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsRegistry } from '@edgefleet/protocol';
import type { Hono } from 'hono';
import pino from 'pino';
import { createAuthenticator } from '../auth/authenticate.js';
import { ensureAdminToken } from '../auth/bootstrap.js';
import { appendAudit } from '../db/audit.js';
import { openDatabase, type OpenedDatabase } from '../db/open.js';
import { createApp } from '../http/app.js';
import type { AnyRoute } from '../http/route.js';
import { FsArtifactStore } from '../registry/artifact-store.js';
import { Keyring } from '../keys/keyring.js';
import type { BrokerLink, Services } from './services.js';

export interface TestApi {
  readonly app: Hono;
  readonly services: Services;
  readonly adminToken: string;
  readonly published: Array<{ topic: string; payload: string; retain: boolean }>;
  readonly disconnected: string[];
  call(
    method: string,
    path: string,
    options?: {
      token?: string;
      basic?: [string, string];
      body?: unknown;
      headers?: Record<string, string>;
    },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function createTestApi(
  routesOf: (s: Services) => AnyRoute[],
  overrides: { now?: () => Date } = {},
): Promise<TestApi> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-api-'));
  const opened: OpenedDatabase = await openDatabase({});
  await opened.migrate();
  const published: TestApi['published'] = [];
  const disconnected: string[] = [];
  const broker: BrokerLink = {
    publish: (topic, payload, options) => {
      published.push({
        topic,
        payload: new TextDecoder().decode(payload),
        retain: options?.retain ?? false,
      });
      return Promise.resolve();
    },
    disconnectDevice: (id) => {
      disconnected.push(id);
    },
  };
  const now = overrides.now ?? (() => new Date());
  const services: Services = {
    db: opened.db,
    artifacts: new FsArtifactStore(join(dir, 'artifacts')),
    authenticator: createAuthenticator(opened.db, { now }),
    broker,
    keyring: await Keyring.open({
      db: opened.db,
      dataDir: dir,
      logger: pino({ level: process.env.EF_TEST_LOG ?? 'silent' }),
      now,
    }),
    logger: pino({ level: process.env.EF_TEST_LOG ?? 'silent' }),
    metrics: new MetricsRegistry(),
    now,
    settings: {
      maxUploadBytes: 64 * 1024 * 1024,
      deviceMqttUrl: 'mqtt://127.0.0.1:1883',
      publicUrl: 'http://127.0.0.1:8080',
    },
  };
  const boot = await ensureAdminToken(opened.db, dir, undefined);
  const app = createApp({
    routes: routesOf(services),
    logger: services.logger,
    metrics: services.metrics,
    version: 'test',
    authenticate: services.authenticator,
    audit: async (r) => {
      await appendAudit(opened.db, {
        actor: r.actor,
        action: r.action,
        target: r.target,
        outcome: r.outcome,
        details: { status: r.status, ...(r.details ?? {}) },
      });
    },
  });
  return {
    app,
    services,
    adminToken: boot.created!,
    published,
    disconnected,
    call(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.basic) {
        headers.authorization = `Basic ${Buffer.from(options.basic.join(':')).toString('base64')}`;
      }
      let body: string | undefined;
      if (options.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      }
      return Promise.resolve(
        app.request(path, { method, headers, ...(body === undefined ? {} : { body }) }),
      );
    },
    async close() {
      await opened.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
