/**
 * Devices: enrollment tokens, enrollment, listing by label selector, relabelling, decommissioning.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { checkDeviceId, EdgefleetError } from '@edgefleet/protocol';
import { z } from 'zod';
import { newToken } from '../auth/authenticate.js';
import { hashToken as hashDeviceToken } from '../broker/password.js';
import {
  countDevices,
  decommissionDevice,
  enrollDevice,
  getDevice,
  listDevices,
  setDeviceLabels,
} from '../db/devices.js';
import { fleetSummary } from '../db/device-summary.js';
import type { Device, EnrollmentToken } from '../db/schema.js';
import {
  createEnrollmentToken,
  hashToken,
  listEnrollmentTokens,
  revokeEnrollmentToken,
} from '../db/tokens.js';
import { parseSelector } from '../devices/selector.js';
import { httpErrors } from '../http/errors.js';
import { route, type AnyRoute } from '../http/route.js';
import { DurationSchema, IdParamSchema, LabelsSchema } from './schemas.js';
import type { Services } from './services.js';

export function deviceView(d: Device) {
  return {
    id: d.id,
    hardwareClass: d.hardwareClass,
    os: d.os,
    arch: d.arch,
    ortVersion: d.ortVersion,
    executionProviders: d.executionProviders,
    labels: d.labels,
    status: d.status,
    online: d.online,
    currentReleaseId: d.currentReleaseId,
    enrolledAt: d.enrolledAt.toISOString(),
    lastSeenAt: d.lastSeenAt?.toISOString() ?? null,
    decommissionedAt: d.decommissionedAt?.toISOString() ?? null,
  };
}

function enrollmentTokenView(t: EnrollmentToken) {
  return {
    id: t.id,
    labels: t.labels,
    maxUses: t.maxUses,
    uses: t.uses,
    expiresAt: t.expiresAt.toISOString(),
    createdAt: t.createdAt.toISOString(),
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

const REFUSALS = {
  unknown: 'the enrollment token is unknown',
  revoked: 'the enrollment token was revoked',
  expired: 'the enrollment token has expired',
  exhausted: 'the enrollment token has been used its maximum number of times',
} as const;

const EnrollBody = z.strictObject({
  token: z.string().min(8).max(256),
  /** Suggested device id (e.g. a serial number); a random one is assigned when absent. */
  deviceId: z.string().optional(),
  hardwareClass: z.string().min(1).max(63),
  os: z.string().min(1).max(63),
  arch: z.string().min(1).max(63),
  ortVersion: z.string().min(1).max(63),
  executionProviders: z.array(z.string().min(1).max(63)).max(32).default(['cpu']),
  labels: LabelsSchema.default({}),
});

export function deviceRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/v1/enrollment-tokens',
      summary: 'Create an enrollment token (shown once)',
      tag: 'devices',
      access: 'deployer',
      audit: 'enrollment_tokens.create',
      status: 201,
      body: z.strictObject({
        labels: LabelsSchema.default({}),
        maxUses: z.int().min(1).max(1_000_000).default(1),
        expiresIn: DurationSchema.prefault('24h'),
      }),
      handler: async ({ body, principal, audit }) => {
        const token = newToken('efe');
        const row = await createEnrollmentToken(s.db, {
          id: randomUUID(),
          tokenHash: hashToken(token),
          labels: body.labels,
          maxUses: body.maxUses,
          expiresAt: new Date(s.now().getTime() + body.expiresIn),
          createdBy: principal?.kind === 'operator' ? principal.name : null,
        });
        audit.target = `enrollment-tokens/${row.id}`;
        audit.details = { labels: row.labels, maxUses: row.maxUses };
        return { ...enrollmentTokenView(row), token };
      },
    }),
    route({
      method: 'get',
      path: '/v1/enrollment-tokens',
      summary: 'List enrollment tokens',
      tag: 'devices',
      access: 'deployer',
      handler: async () => ({
        tokens: (await listEnrollmentTokens(s.db)).map(enrollmentTokenView),
      }),
    }),
    route({
      method: 'delete',
      path: '/v1/enrollment-tokens/{id}',
      summary: 'Revoke an enrollment token',
      tag: 'devices',
      access: 'deployer',
      audit: 'enrollment_tokens.revoke',
      params: IdParamSchema,
      handler: async ({ params, audit }) => {
        audit.target = `enrollment-tokens/${params.id}`;
        return enrollmentTokenView(await revokeEnrollmentToken(s.db, params.id, s.now()));
      },
    }),
    route({
      method: 'post',
      path: '/v1/devices/enroll',
      summary: 'Enroll a device with an enrollment token; returns its credentials (shown once)',
      tag: 'devices',
      access: 'public',
      audit: 'devices.enroll',
      status: 201,
      body: EnrollBody,
      handler: async ({ body, audit }) => {
        let deviceId = body.deviceId ?? `dev-${randomBytes(6).toString('hex')}`;
        const idCheck = checkDeviceId(deviceId);
        if (!idCheck.ok) throw httpErrors.badRequest(idCheck.message, { field: 'deviceId' });
        deviceId = idCheck.value;
        const deviceToken = newToken('efd');
        const result = await enrollDevice(s.db, {
          enrollmentTokenHash: hashToken(body.token),
          deviceTokenHash: await hashDeviceToken(deviceToken),
          device: {
            id: deviceId,
            hardwareClass: body.hardwareClass,
            os: body.os,
            arch: body.arch,
            ortVersion: body.ortVersion,
            executionProviders: body.executionProviders,
            labels: body.labels,
          },
          now: s.now(),
        });
        audit.target = `devices/${deviceId}`;
        if (!result.ok) {
          throw new EdgefleetError('EF_UNAUTHORIZED', REFUSALS[result.reason], {
            details: { reason: result.reason },
          });
        }
        const root = s.keyring.currentRoot();
        s.logger.info({ deviceId, hardwareClass: body.hardwareClass }, 'device enrolled');
        return {
          deviceId,
          deviceToken,
          mqttUrl: s.settings.deviceMqttUrl,
          apiUrl: s.settings.publicUrl,
          labels: result.device.labels,
          trustRoot: root.text,
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/devices',
      summary:
        'List devices, filtered by a label selector (e.g. `site=berlin,hw in (jetson,rpi5)`)',
      tag: 'devices',
      access: 'viewer',
      query: z.object({
        selector: z.string().max(2048).optional(),
        status: z.enum(['active', 'decommissioned', 'all']).default('active'),
        hardwareClass: z.string().max(63).optional(),
        online: z.enum(['true', 'false']).optional(),
        after: z.string().max(64).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      handler: async ({ query }) => {
        const filter = {
          selector: parseSelector(query.selector ?? ''),
          status: query.status,
          ...(query.hardwareClass === undefined ? {} : { hardwareClass: query.hardwareClass }),
          ...(query.online === undefined ? {} : { online: query.online === 'true' }),
        };
        const rows = await listDevices(s.db, {
          ...filter,
          limit: query.limit,
          ...(query.after === undefined ? {} : { after: query.after }),
        });
        return {
          devices: rows.map(deviceView),
          total: await countDevices(s.db, filter),
          next: rows.length === query.limit ? rows[rows.length - 1]!.id : null,
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/fleet/summary',
      summary:
        'Devices matching a selector counted by online/offline, release, hardware class, label and latest deployment state',
      tag: 'devices',
      access: 'viewer',
      query: z.object({
        selector: z.string().max(2048).optional(),
        hardwareClass: z.string().max(63).optional(),
      }),
      handler: async ({ query }) =>
        fleetSummary(s.db, {
          selector: parseSelector(query.selector ?? ''),
          ...(query.hardwareClass === undefined ? {} : { hardwareClass: query.hardwareClass }),
        }),
    }),
    route({
      method: 'get',
      path: '/v1/devices/{id}',
      summary: 'One device',
      tag: 'devices',
      access: 'viewer',
      params: IdParamSchema,
      handler: async ({ params }) => {
        const d = await getDevice(s.db, params.id);
        if (!d) throw httpErrors.notFound(`device ${params.id}`);
        return deviceView(d);
      },
    }),
    route({
      method: 'put',
      path: '/v1/devices/{id}/labels',
      summary: "Replace a device's labels",
      tag: 'devices',
      access: 'deployer',
      audit: 'devices.relabel',
      params: IdParamSchema,
      body: z.strictObject({ labels: LabelsSchema }),
      handler: async ({ params, body, audit }) => {
        audit.target = `devices/${params.id}`;
        audit.details = { labels: body.labels };
        return deviceView(await setDeviceLabels(s.db, params.id, body.labels));
      },
    }),
    route({
      method: 'post',
      path: '/v1/devices/{id}/decommission',
      summary: 'Decommission a device: revoke its credentials and close its MQTT session',
      tag: 'devices',
      access: 'admin',
      audit: 'devices.decommission',
      params: IdParamSchema,
      handler: async ({ params, audit }) => {
        audit.target = `devices/${params.id}`;
        const d = await decommissionDevice(s.db, params.id, s.now());
        s.authenticator.forgetDevice(params.id);
        s.broker.disconnectDevice(params.id);
        s.logger.info({ deviceId: params.id }, 'device decommissioned');
        return deviceView(d);
      },
    }),
  ];
}
