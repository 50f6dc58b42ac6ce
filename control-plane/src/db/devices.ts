/**
 * The fleet: enrolling devices, finding them by label selector, relabelling, decommissioning, and
 * keeping their liveness and reported state.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Database } from './database.js';
import { mapSqlErrors, SQLSTATE } from './errors.js';
import {
  deviceDirectiveCounters,
  devices,
  type Device,
  type DeviceStatus,
  type LabelPredicate,
  type Labels,
  type NewDevice,
} from './schema.js';
import {
  addDeviceToken,
  consumeEnrollmentToken,
  revokeDeviceTokens,
  type EnrollmentRefusal,
} from './tokens.js';

// --- Label selectors -----------------------------------------------------------------------------

/** `labels @> {"key": "value"}`: containment, so the GIN index on labels can serve it. */
function hasLabel(key: string, value: string): SQL {
  return sql`${devices.labels} @> ${JSON.stringify({ [key]: value })}::jsonb`;
}

function hasAnyLabel(key: string, values: readonly string[]): SQL {
  if (values.length === 0) return sql`false`;
  return sql`(${sql.join(
    values.map((v) => hasLabel(key, v)),
    sql` or `,
  )})`;
}

function singleValue(p: LabelPredicate): string {
  const [value] = p.values;
  if (p.values.length !== 1 || value === undefined) {
    throw new EdgefleetError(
      'EF_BAD_REQUEST',
      `Selector term "${p.key} ${p.op}" needs exactly one value.`,
      { details: { key: p.key, op: p.op } },
    );
  }
  return value;
}

/** SQL condition over `devices.labels` matching every predicate (an empty list matches all). */
export function labelSelectorSql(predicates: readonly LabelPredicate[]): SQL {
  if (predicates.length === 0) return sql`true`;
  const terms = predicates.map((p): SQL => {
    switch (p.op) {
      case '=':
        return hasLabel(p.key, singleValue(p));
      case '!=':
        return sql`not ${hasLabel(p.key, singleValue(p))}`;
      case 'in':
        return hasAnyLabel(p.key, p.values);
      case 'notin':
        return sql`not ${hasAnyLabel(p.key, p.values)}`;
      case 'exists':
        return sql`${devices.labels} ? ${p.key}`;
      case '!exists':
        return sql`not (${devices.labels} ? ${p.key})`;
    }
  });
  return sql`(${sql.join(terms, sql` and `)})`;
}

// --- Enrollment ----------------------------------------------------------------------------------

/** Insert a device row. An existing id is EF_CONFLICT, an invalid one EF_BAD_REQUEST. */
export async function createDevice(db: Database, device: NewDevice): Promise<Device> {
  const [row] = await mapSqlErrors(() => db.insert(devices).values(device).returning(), {
    [SQLSTATE.uniqueViolation]: {
      code: 'EF_CONFLICT',
      message: `Device ${device.id} is already enrolled.`,
      details: { deviceId: device.id },
    },
    [SQLSTATE.checkViolation]: {
      code: 'EF_BAD_REQUEST',
      message: `Device id ${JSON.stringify(device.id)} is not valid: 1-64 of A-Z a-z 0-9 . _ - , starting with a letter or digit.`,
      details: { deviceId: device.id },
    },
  });
  return row!;
}

export interface EnrollDeviceInput {
  /** sha256 of the enrollment token the device presented (`hashToken`). */
  enrollmentTokenHash: string;
  /** The device's self-description. Labels from the enrollment token override its own. */
  device: Omit<NewDevice, 'status' | 'enrolledAt' | 'decommissionedAt'>;
  /** The device's new MQTT credential in Mosquitto `$7$` form. */
  deviceTokenHash: string;
  now?: Date;
}

export type EnrollDeviceResult =
  { ok: true; device: Device } | { ok: false; reason: EnrollmentRefusal };

/**
 * Enroll a device in one transaction: use the enrollment token once, create the device with the
 * token's labels, store its MQTT credential. If anything fails (e.g. the id is taken: EF_CONFLICT),
 * nothing is written and the token use is not spent.
 */
export async function enrollDevice(
  db: Database,
  input: EnrollDeviceInput,
): Promise<EnrollDeviceResult> {
  const now = input.now ?? new Date();
  return db.transaction(async (tx): Promise<EnrollDeviceResult> => {
    const consumed = await consumeEnrollmentToken(tx, input.enrollmentTokenHash, now);
    if (!consumed.ok) return consumed;
    const device = await createDevice(tx, {
      ...input.device,
      labels: { ...input.device.labels, ...consumed.token.labels },
      enrolledAt: now,
      lastSeenAt: now,
    });
    await addDeviceToken(tx, device.id, input.deviceTokenHash, now);
    return { ok: true, device };
  });
}

// --- Queries -------------------------------------------------------------------------------------

export async function getDevice(db: Database, id: string): Promise<Device | undefined> {
  const [row] = await db.select().from(devices).where(eq(devices.id, id));
  return row;
}

export interface DeviceFilter {
  /** Parsed label selector; every term must match. */
  selector?: readonly LabelPredicate[];
  /** Default 'active'; 'all' includes decommissioned devices. */
  status?: DeviceStatus | 'all';
  hardwareClass?: string;
  online?: boolean;
}

export function filterSql(filter: DeviceFilter): SQL | undefined {
  const status = filter.status ?? 'active';
  return and(
    filter.selector === undefined ? undefined : labelSelectorSql(filter.selector),
    status === 'all' ? undefined : eq(devices.status, status),
    filter.hardwareClass === undefined
      ? undefined
      : eq(devices.hardwareClass, filter.hardwareClass),
    filter.online === undefined ? undefined : eq(devices.online, filter.online),
  );
}

export interface ListDevicesOptions extends DeviceFilter {
  /** Keyset paging: only ids after this one. */
  after?: string;
  /** Default 100, at most 1000. */
  limit?: number;
}

/** Devices matching the filter, ordered by id. */
export async function listDevices(
  db: Database,
  options: ListDevicesOptions = {},
): Promise<Device[]> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
  return db
    .select()
    .from(devices)
    .where(
      and(
        filterSql(options),
        options.after === undefined ? undefined : gt(devices.id, options.after),
      ),
    )
    .orderBy(asc(devices.id))
    .limit(limit);
}

/** How many devices match the filter (for percentage waves). */
export async function countDevices(db: Database, filter: DeviceFilter = {}): Promise<number> {
  return db.$count(devices, filterSql(filter));
}

// --- Changes -------------------------------------------------------------------------------------

function notFound(id: string): EdgefleetError {
  return new EdgefleetError('EF_NOT_FOUND', `No device ${id}.`, { details: { deviceId: id } });
}

/** Replace a device's labels. EF_NOT_FOUND if there is no such device. */
export async function setDeviceLabels(db: Database, id: string, labels: Labels): Promise<Device> {
  const [row] = await db.update(devices).set({ labels }).where(eq(devices.id, id)).returning();
  if (row === undefined) throw notFound(id);
  return row;
}

/**
 * Take a device out of the fleet: it stops matching selectors, is marked offline, and its MQTT
 * credentials are revoked, in one transaction. Decommissioning twice keeps the first timestamp.
 */
export async function decommissionDevice(
  db: Database,
  id: string,
  at: Date = new Date(),
): Promise<Device> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(devices)
      .set({
        status: 'decommissioned',
        online: false,
        decommissionedAt: sql`coalesce(${devices.decommissionedAt}, ${sql.param(at, devices.decommissionedAt)})`,
      })
      .where(eq(devices.id, id))
      .returning();
    if (row === undefined) throw notFound(id);
    await revokeDeviceTokens(tx, id, at);
    return row;
  });
}

/**
 * Record that an active device was heard from at `at` (last seen never moves backwards) and,
 * when given, its presence. Returns false if there is no such active device.
 */
export async function touchDevice(
  db: Database,
  id: string,
  options: { at?: Date; online?: boolean } = {},
): Promise<boolean> {
  const at = options.at ?? new Date();
  const rows = await db
    .update(devices)
    .set({
      lastSeenAt: sql`greatest(${devices.lastSeenAt}, ${sql.param(at, devices.lastSeenAt)})`,
      ...(options.online === undefined ? {} : { online: options.online }),
    })
    .where(and(eq(devices.id, id), eq(devices.status, 'active')))
    .returning({ id: devices.id });
  return rows.length > 0;
}

/** What a device reports about itself on `state` (ARCHITECTURE §3). */
export type ReportedDeviceState = Partial<
  Pick<Device, 'currentReleaseId' | 'ortVersion' | 'executionProviders' | 'os' | 'arch'>
>;

/** Store a device's reported state. Returns the updated device, or undefined if it is unknown. */
export async function recordDeviceState(
  db: Database,
  id: string,
  state: ReportedDeviceState,
  at: Date = new Date(),
): Promise<Device | undefined> {
  const [row] = await db
    .update(devices)
    .set({
      ...state,
      lastSeenAt: sql`greatest(${devices.lastSeenAt}, ${sql.param(at, devices.lastSeenAt)})`,
    })
    .where(eq(devices.id, id))
    .returning();
  return row;
}

/**
 * Hand out the device's next directiveCounter (monotonic per device, ARCHITECTURE §3) with one atomic
 * upsert: concurrent callers get distinct, increasing values.
 */
export async function nextDirectiveCounter(
  db: Database,
  deviceId: string,
  at: Date = new Date(),
): Promise<number> {
  const [row] = await mapSqlErrors(
    () =>
      db
        .insert(deviceDirectiveCounters)
        .values({ deviceId, lastCounter: 1, updatedAt: at })
        .onConflictDoUpdate({
          target: deviceDirectiveCounters.deviceId,
          set: {
            lastCounter: sql`${deviceDirectiveCounters.lastCounter} + 1`,
            updatedAt: at,
          },
        })
        .returning({ counter: deviceDirectiveCounters.lastCounter }),
    {
      [SQLSTATE.foreignKeyViolation]: {
        code: 'EF_NOT_FOUND',
        message: `No device ${deviceId}.`,
        details: { deviceId },
      },
    },
  );
  return row!.counter;
}

/** Devices per statement in `nextDirectiveCounters` (3 parameters each, far below the 65,535 cap). */
const COUNTER_CHUNK = 2000;

/**
 * `nextDirectiveCounter` for many devices at once (one upsert statement per 2,000 devices): each
 * device's next counter, by device id. Ids given twice count once; rows are taken in id order, so two
 * concurrent calls cannot deadlock on each other.
 */
export async function nextDirectiveCounters(
  db: Database,
  deviceIds: readonly string[],
  at: Date = new Date(),
): Promise<Map<string, number>> {
  const counters = new Map<string, number>();
  const ids = [...new Set(deviceIds)].sort();
  for (let i = 0; i < ids.length; i += COUNTER_CHUNK) {
    const chunk = ids.slice(i, i + COUNTER_CHUNK);
    const rows = await mapSqlErrors(
      () =>
        db
          .insert(deviceDirectiveCounters)
          .values(chunk.map((deviceId) => ({ deviceId, lastCounter: 1, updatedAt: at })))
          .onConflictDoUpdate({
            target: deviceDirectiveCounters.deviceId,
            set: {
              lastCounter: sql`${deviceDirectiveCounters.lastCounter} + 1`,
              updatedAt: at,
            },
          })
          .returning({
            deviceId: deviceDirectiveCounters.deviceId,
            counter: deviceDirectiveCounters.lastCounter,
          }),
      {
        [SQLSTATE.foreignKeyViolation]: {
          code: 'EF_NOT_FOUND',
          message: 'No such device.',
          details: { deviceIds: chunk.length },
        },
      },
    );
    for (const r of rows) counters.set(r.deviceId, r.counter);
  }
  return counters;
}
