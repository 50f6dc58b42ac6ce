import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import type { WebhookDelivery } from '../db/schema.js';
import {
  BACKENDS,
  ManualTimers,
  openTestDatabase,
  type TestDatabase,
} from '../telemetry/fixtures.test-support.js';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './dispatcher.js';
import { verifyWebhookSignature } from './signature.js';
import {
  createWebhook,
  deleteWebhook,
  enqueueWebhookEvent,
  getWebhook,
  listDeliveries,
  listDeliveryAttempts,
  listWebhooks,
  setWebhookActive,
} from './store.js';

const T0 = Date.parse('2031-05-04T12:00:00.000Z');
const SECRET = 'whsec_receiver_shared_secret_01';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A real HTTP receiver on an ephemeral port that answers with the next queued status (then 200). */
async function receiver(statuses: number[]): Promise<{
  url: string;
  received: Received[];
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = statuses.shift() ?? 200;
      res.end('thanks');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/edgefleet`,
    received,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => {
          if (err) reject(err);
          else resolve();
        });
      }),
  };
}

for (const backend of BACKENDS) {
  describe(`webhooks on ${backend}`, () => {
    let store: TestDatabase;
    const db = (): Database => store.db;
    let clock = T0;

    beforeAll(async () => {
      store = await openTestDatabase(backend);
    });
    afterAll(async () => {
      await store.close();
    });

    /** Only this test's webhooks exist: earlier ones (and their deliveries) are deleted. */
    async function isolate(): Promise<void> {
      for (const w of await listWebhooks(db())) await deleteWebhook(db(), w.id);
    }

    const dispatcher = (options: Partial<WebhookDispatcherOptions> = {}) =>
      new WebhookDispatcher({
        db: db(),
        now: () => new Date(clock),
        random: () => 0,
        retry: { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 5 },
        timers: new ManualTimers(),
        ...options,
      });

    it('retries with backoff until the receiver accepts, signing every attempt, and logs each', async () => {
      await isolate();
      const server = await receiver([500, 503]);
      try {
        const { webhook } = await createWebhook(db(), {
          url: server.url,
          events: ['retraining.requested'],
          secret: SECRET,
        });
        const delivered: WebhookDelivery[] = [];
        const d = dispatcher({ onDelivered: (x) => void delivered.push(x) });
        const { envelope, deliveries } = await enqueueWebhookEvent(
          db(),
          'retraining.requested',
          { id: 'rr_1', model: 'churn' },
          new Date(clock),
        );
        expect(deliveries).toBe(1);

        const first = await d.runDue();
        expect(first).toMatchObject([{ attempt: 1, status: 'pending', statusCode: 500 }]);
        expect(first[0]!.nextAttemptAt?.getTime()).toBe(clock + 1000);
        expect(await d.runDue()).toEqual([]); // not due yet

        clock += 1000;
        expect(await d.runDue()).toMatchObject([
          { attempt: 2, status: 'pending', statusCode: 503 },
        ]);
        clock += 1999;
        expect(await d.runDue()).toEqual([]);
        clock += 1;
        expect(await d.runDue()).toMatchObject([
          { attempt: 3, status: 'succeeded', statusCode: 200, nextAttemptAt: null },
        ]);
        expect(await d.runDue()).toEqual([]);

        // The receiver got three requests, each correctly signed, all of one delivery.
        expect(server.received).toHaveLength(3);
        const ids = new Set(server.received.map((r) => r.headers['x-edgefleet-delivery']));
        expect(ids.size).toBe(1);
        for (const r of server.received) {
          expect(r.headers['x-edgefleet-event']).toBe('retraining.requested');
          const stamp = Number(r.headers['x-edgefleet-timestamp']);
          expect(verifyWebhookSignature(SECRET, r.headers, r.body, 300, stamp)).toEqual({
            ok: true,
            timestampSec: stamp,
          });
          expect(JSON.parse(r.body)).toEqual(envelope);
        }
        // Accepted (2xx) exactly once.
        expect(delivered).toHaveLength(1);

        const [delivery] = await listDeliveries(db(), { webhookId: webhook.id });
        expect(delivery).toMatchObject({
          status: 'succeeded',
          attempts: 3,
          responseStatus: 200,
          lastError: null,
        });
        expect(delivery!.deliveredAt?.getTime()).toBe(clock);
        const log = await listDeliveryAttempts(db(), delivery!.id);
        expect(log.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
          [1, 500, 'HTTP 500'],
          [2, 503, 'HTTP 503'],
          [3, 200, null],
        ]);
        expect(log.map((a) => a.nextAttemptAt?.getTime() ?? null)).toEqual([
          T0 + 1000,
          T0 + 3000,
          null,
        ]);
      } finally {
        await server.close();
      }
    });

    it('gives a delivery up as dead after the last attempt (connection refused)', async () => {
      await isolate();
      const gone = await receiver([]);
      await gone.close(); // nothing listens on this port any more
      await createWebhook(db(), { url: gone.url, secret: SECRET });
      const d = dispatcher({ retry: { baseDelayMs: 10, maxAttempts: 2 } });
      await enqueueWebhookEvent(db(), 'drift.opened', { eventId: 1 }, new Date(clock));
      const [a1] = await d.runDue();
      expect(a1).toMatchObject({ attempt: 1, status: 'pending', statusCode: null });
      expect(a1!.error).toMatch(/fetch failed|ECONNREFUSED/);
      clock += 10;
      expect(await d.runDue()).toMatchObject([{ attempt: 2, status: 'dead', nextAttemptAt: null }]);
    });

    it('records a timed-out attempt as such', async () => {
      await isolate();
      await createWebhook(db(), { url: 'https://receiver.invalid/hook', secret: SECRET });
      const d = dispatcher({
        fetch: () => Promise.reject(new DOMException('The operation timed out.', 'TimeoutError')),
      });
      await enqueueWebhookEvent(db(), 'drift.resolved', { eventId: 2 }, new Date(clock));
      expect(await d.runDue()).toMatchObject([{ status: 'pending', error: 'timed out' }]);
    });

    it('queues an event only for the active webhooks subscribed to it', async () => {
      await isolate();
      const all = await createWebhook(db(), { url: 'https://a.example/hook' });
      const driftOnly = await createWebhook(db(), {
        url: 'https://b.example/hook',
        events: ['drift.opened'],
      });
      const paused = await createWebhook(db(), { url: 'https://c.example/hook' });
      await setWebhookActive(db(), paused.webhook.id, false);
      const queued = await enqueueWebhookEvent(db(), 'retraining.requested', {}, new Date(clock));
      expect(queued.deliveries).toBe(1);
      expect(await listDeliveries(db(), { webhookId: all.webhook.id })).toHaveLength(1);
      expect(await listDeliveries(db(), { webhookId: driftOnly.webhook.id })).toHaveLength(0);
      expect(
        (await enqueueWebhookEvent(db(), 'drift.opened', {}, new Date(clock))).deliveries,
      ).toBe(2);
    });

    it('fails the pending deliveries of a webhook that was paused after they were queued', async () => {
      await isolate();
      const { webhook } = await createWebhook(db(), { url: 'https://d.example/hook' });
      await enqueueWebhookEvent(db(), 'drift.opened', {}, new Date(clock));
      await setWebhookActive(db(), webhook.id, false);
      let called = 0;
      const d = dispatcher({
        fetch: () => {
          called++;
          return Promise.resolve(new Response('ok'));
        },
      });
      expect(await d.runDue()).toMatchObject([{ status: 'failed', error: 'webhook disabled' }]);
      expect(called).toBe(0);
    });

    it('never shows the secret outside creation, generates one when none is given', async () => {
      const created = await createWebhook(db(), { url: 'https://e.example/hook' });
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      expect(created.webhook).not.toHaveProperty('secret');
      expect(await getWebhook(db(), created.webhook.id)).not.toHaveProperty('secret');
      expect((await listWebhooks(db())).every((w) => !('secret' in w))).toBe(true);
      expect(await deleteWebhook(db(), created.webhook.id)).toBe(true);
      expect(await deleteWebhook(db(), created.webhook.id)).toBe(false);
    });

    it('refuses invalid registrations', async () => {
      await expect(createWebhook(db(), { url: 'ftp://x.example/' })).rejects.toMatchObject({
        code: 'EF_BAD_REQUEST',
      });
      await expect(
        createWebhook(db(), { url: 'https://x.example/', events: ['nope' as never] }),
      ).rejects.toMatchObject({ code: 'EF_BAD_REQUEST' });
      await expect(
        createWebhook(db(), { url: 'https://x.example/', secret: 'short' }),
      ).rejects.toMatchObject({ code: 'EF_BAD_REQUEST' });
    });

    it('start() sends what is due on its timer and sleeps until the next due time', async () => {
      await isolate();
      const server = await receiver([500]);
      try {
        await createWebhook(db(), { url: server.url, secret: SECRET });
        const timers = new ManualTimers();
        const d = dispatcher({ timers, pollIntervalMs: 30_000 });
        await enqueueWebhookEvent(db(), 'drift.opened', {}, new Date(clock));
        d.start();
        expect(timers.armed).toEqual([0]);
        timers.fireAll();
        await d.idle();
        expect(server.received).toHaveLength(1);
        // The retry is due in 1 s: the loop sleeps exactly that long.
        expect(timers.armed).toEqual([1000]);
        clock += 1000;
        timers.fireAll();
        await d.idle();
        expect(server.received).toHaveLength(2);
        // Nothing is pending: back to the poll interval, or woken early by notify().
        expect(timers.armed).toEqual([30_000]);
        d.notify();
        expect(timers.armed).toEqual([0]);
        await d.stop();
        expect(timers.armed).toEqual([]);
      } finally {
        await server.close();
      }
    });
  });
}
