/**
 * Webhook registrations (`POST /v1/webhooks {url, events, secret}`), the outbox of deliveries and
 * their attempt log. Events are enqueued in the transaction that produces them (a drift event, a
 * retraining request), so a committed event always has its deliveries and a rolled-back one never
 * does; the dispatcher sends them afterwards.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, desc, eq, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import {
  webhookDeliveries,
  webhookDeliveryAttempts,
  webhooks,
  type JsonObject,
  type Webhook,
  type WebhookDelivery,
  type WebhookDeliveryAttempt,
  type WebhookDeliveryStatus,
} from '../db/schema.js';

/** Event types a webhook can subscribe to. */
export const WEBHOOK_EVENTS = ['retraining.requested', 'drift.opened', 'drift.resolved'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Body of `POST /v1/webhooks`. */
export const CreateWebhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'url must be an http(s) URL' }).max(2048),
  /** Event types to deliver; empty or absent: all. */
  events: z.array(z.enum(WEBHOOK_EVENTS)).max(WEBHOOK_EVENTS.length).default([]),
  /** HMAC secret; generated (and returned once) when absent. */
  secret: z.string().min(16).max(256).optional(),
});
export type CreateWebhookInput = z.input<typeof CreateWebhookSchema>;

/** A webhook as the API shows it: never with its secret. */
export type PublicWebhook = Omit<Webhook, 'secret'>;

export function publicWebhook(w: Webhook): PublicWebhook {
  const { secret: _secret, ...rest } = w;
  return rest;
}

/** The JSON body of every delivery. `id` is the event's id (the same for every webhook). */
export interface WebhookEnvelope {
  readonly id: string;
  readonly type: WebhookEvent;
  readonly createdAt: string;
  readonly data: JsonObject;
}

/**
 * Register a webhook. Returns it with its secret: the only time the API shows the secret.
 * @throws EdgefleetError EF_BAD_REQUEST on invalid input.
 */
export async function createWebhook(
  db: Database,
  input: CreateWebhookInput,
  options: { createdBy?: string; now?: Date } = {},
): Promise<{ webhook: PublicWebhook; secret: string }> {
  const parsed = CreateWebhookSchema.safeParse(input);
  if (!parsed.success) {
    throw new EdgefleetError('EF_BAD_REQUEST', z.prettifyError(parsed.error), {
      details: { issues: parsed.error.issues.length },
    });
  }
  const secret = parsed.data.secret ?? `whsec_${randomBytes(32).toString('base64url')}`;
  const [row] = await db
    .insert(webhooks)
    .values({
      id: `wh_${randomBytes(9).toString('base64url')}`,
      url: parsed.data.url,
      events: [...new Set(parsed.data.events)],
      secret,
      createdBy: options.createdBy ?? null,
      createdAt: options.now ?? new Date(),
    })
    .returning();
  return { webhook: publicWebhook(row!), secret };
}

export async function listWebhooks(db: Database): Promise<PublicWebhook[]> {
  const rows = await db.select().from(webhooks).orderBy(asc(webhooks.createdAt), asc(webhooks.id));
  return rows.map(publicWebhook);
}

export async function getWebhook(db: Database, id: string): Promise<PublicWebhook | undefined> {
  const [row] = await db.select().from(webhooks).where(eq(webhooks.id, id));
  return row === undefined ? undefined : publicWebhook(row);
}

/** Delete a webhook and its delivery log. False if there was none. */
export async function deleteWebhook(db: Database, id: string): Promise<boolean> {
  const rows = await db.delete(webhooks).where(eq(webhooks.id, id)).returning({ id: webhooks.id });
  return rows.length > 0;
}

/** Pause (false) or resume (true) deliveries to a webhook. False if there is no such webhook. */
export async function setWebhookActive(
  db: Database,
  id: string,
  active: boolean,
): Promise<boolean> {
  const rows = await db
    .update(webhooks)
    .set({ active })
    .where(eq(webhooks.id, id))
    .returning({ id: webhooks.id });
  return rows.length > 0;
}

const subscribes = (w: Webhook, event: WebhookEvent): boolean =>
  w.events.length === 0 || w.events.includes(event);

/**
 * Queue an event for every active webhook subscribed to it. Call it inside the transaction that
 * produces the event. Returns the envelope and the number of deliveries queued.
 */
export async function enqueueWebhookEvent(
  db: Database,
  type: WebhookEvent,
  data: JsonObject,
  at: Date = new Date(),
): Promise<{ envelope: WebhookEnvelope; deliveries: number }> {
  const envelope: WebhookEnvelope = { id: randomUUID(), type, createdAt: at.toISOString(), data };
  const targets = (await db.select().from(webhooks).where(eq(webhooks.active, true))).filter((w) =>
    subscribes(w, type),
  );
  if (targets.length > 0) {
    await db.insert(webhookDeliveries).values(
      targets.map((w) => ({
        webhookId: w.id,
        event: type,
        payload: envelope as unknown as JsonObject,
        status: 'pending' as const,
        nextAttemptAt: at,
        createdAt: at,
      })),
    );
  }
  return { envelope, deliveries: targets.length };
}

export interface ListDeliveriesOptions {
  readonly webhookId?: string;
  readonly status?: WebhookDeliveryStatus;
  /** Keyset paging: deliveries with a smaller id (newest first). */
  readonly before?: number;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

/** Deliveries, newest first. */
export async function listDeliveries(
  db: Database,
  options: ListDeliveriesOptions = {},
): Promise<WebhookDelivery[]> {
  const where: (SQL | undefined)[] = [
    options.webhookId === undefined
      ? undefined
      : eq(webhookDeliveries.webhookId, options.webhookId),
    options.status === undefined ? undefined : eq(webhookDeliveries.status, options.status),
    options.before === undefined ? undefined : lt(webhookDeliveries.id, options.before),
  ];
  return db
    .select()
    .from(webhookDeliveries)
    .where(and(...where))
    .orderBy(desc(webhookDeliveries.id))
    .limit(Math.min(Math.max(options.limit ?? 100, 1), 1000));
}

/** The attempt log of one delivery, oldest first. */
export async function listDeliveryAttempts(
  db: Database,
  deliveryId: number,
): Promise<WebhookDeliveryAttempt[]> {
  return db
    .select()
    .from(webhookDeliveryAttempts)
    .where(eq(webhookDeliveryAttempts.deliveryId, deliveryId))
    .orderBy(asc(webhookDeliveryAttempts.attempt));
}
