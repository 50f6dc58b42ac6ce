/**
 * The control plane's relational schema (drizzle pg-core). One schema for both drivers: PGlite (the
 * embedded default) and PostgreSQL. Keys are camelCase, columns snake_case; row types are inferred.
 *
 * Migrations are generated from this file by drizzle-kit into `control-plane/drizzle/` (see
 * `control-plane/drizzle.config.ts`); never edit a generated migration, add a new one.
 *
 * State columns are `text` with a CHECK constraint rather than PostgreSQL enums: adding a state is then
 * a plain constraint swap inside a transaction. Counters are `bigint` read as JS numbers (safe integers,
 * as the protocol requires for releaseCounter and directiveCounter).
 */
import { DEPLOYMENT_STATES } from '@edgefleet/protocol';
import { sql, type SQL } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  doublePrecision,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  type AnyPgColumn,
} from 'drizzle-orm/pg-core';

// --- Value sets ------------------------------------------------------------------------------------

/** Lifecycle of an enrolled device. */
export const DEVICE_STATUSES = ['active', 'decommissioned'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** Operator roles, lowest first: viewer < deployer < admin (ARCHITECTURE §6). */
export const OPERATOR_ROLES = ['viewer', 'deployer', 'admin'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** Signing roles listed in the root document (ARCHITECTURE §3, trust model). */
export const SIGNING_ROLES = ['root', 'release', 'deploy'] as const;
export type SigningRole = (typeof SIGNING_ROLES)[number];

/** Rollout lifecycle (ARCHITECTURE §4). */
export const ROLLOUT_STATES = [
  'draft',
  'awaiting_approval',
  'running',
  'paused',
  'completed',
  'aborted',
  'cancelled',
  /** A newer rollout of the same model replaced this one; its unsent directives were withdrawn. */
  'superseded',
] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** Rollout kinds: an operator's deployment, or the automatic fleet rollback of an aborted one. */
export const ROLLOUT_KINDS = ['deploy', 'rollback'] as const;
export type RolloutKind = (typeof ROLLOUT_KINDS)[number];

/** Progress of the fleet rollback an abort starts: `pending` until its rollback rollouts exist. */
export const ROLLBACK_STATUSES = ['pending', 'started'] as const;
export type RollbackStatus = (typeof ROLLBACK_STATUSES)[number];

/** Wave lifecycle (ARCHITECTURE §4). */
export const WAVE_STATES = ['pending', 'running', 'soaking', 'passed', 'failed'] as const;
export type WaveState = (typeof WAVE_STATES)[number];

/**
 * Stored device deployment states: the device state machine of ARCHITECTURE §4 (same names as the
 * protocol's DEPLOYMENT_STATES) plus two only the control plane sets: `pending` (directive issued, no
 * report from the device yet) and `timed_out` (no final report within the wave's device timeout).
 */
export const DEVICE_DEPLOYMENT_STATES = ['pending', ...DEPLOYMENT_STATES, 'timed_out'] as const;
export type DeviceDeploymentState = (typeof DEVICE_DEPLOYMENT_STATES)[number];

/** Deployment states after which the control plane expects no more reports (terminal). */
export const FINAL_DEVICE_DEPLOYMENT_STATES = [
  'succeeded',
  'failed',
  'rolled_back',
  'timed_out',
] as const satisfies readonly DeviceDeploymentState[];

/** Deployment states of a device that is updating: a directive is out and no final state is known. */
export const OPEN_DEVICE_DEPLOYMENT_STATES = DEVICE_DEPLOYMENT_STATES.filter(
  (s): s is Exclude<DeviceDeploymentState, (typeof FINAL_DEVICE_DEPLOYMENT_STATES)[number]> =>
    !(FINAL_DEVICE_DEPLOYMENT_STATES as readonly string[]).includes(s),
);

/** What a gate evaluation row records: a wave's gate, tripped abort criteria, or an operator override. */
export const GATE_EVALUATION_KINDS = ['wave_gate', 'abort_criteria', 'promote'] as const;
export type GateEvaluationKind = (typeof GATE_EVALUATION_KINDS)[number];

/** Drift event lifecycle: firing until hysteresis clears it. */
export const DRIFT_EVENT_STATUSES = ['firing', 'resolved'] as const;
export type DriftEventStatus = (typeof DRIFT_EVENT_STATUSES)[number];

export const RETRAINING_REQUEST_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type RetrainingRequestStatus = (typeof RETRAINING_REQUEST_STATUSES)[number];

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'dead'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

// --- JSON shapes -----------------------------------------------------------------------------------

/** A device's labels: plain string keys and values (selectors match on them). */
export type Labels = Record<string, string>;

/** Label selector operators (Kubernetes semantics: `!=` and `notin` also match a missing key). */
export type LabelOperator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists';

/**
 * One parsed label-selector term (the parser lives with the API). `=`/`!=` take one value,
 * `in`/`notin` a set, `exists`/`!exists` none. A selector is a list of terms that must all match.
 */
export interface LabelPredicate {
  key: string;
  op: LabelOperator;
  values: readonly string[];
}

/** A JSON object whose shape is owned by the module that writes it (validated there with zod). */
export type JsonObject = Record<string, unknown>;

/** Descriptive metadata of a model version, fixed at push time. */
export interface ModelVersionMetadata {
  framework?: string;
  metrics?: Record<string, number>;
  trainingDataSha256?: string;
  sourceCommit?: string;
  notes?: string;
}

// --- Column helpers --------------------------------------------------------------------------------

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const counter = (name: string) => bigint(name, { mode: 'number' });
const sha256Hex = (name: string) => text(name);

/** `column IN ('a', 'b')` for a constant value set (the values are ours, never user input). */
function oneOf(column: AnyPgColumn, values: readonly string[]): SQL {
  return sql`${column} in (${sql.raw(values.map((v) => `'${v}'`).join(', '))})`;
}

/** A lower-case hex sha256, as everywhere in the protocol. */
function isSha256(column: AnyPgColumn): SQL {
  return sql`${column} ~ '^[0-9a-f]{64}$'`;
}

// --- Registry: artifacts, models, versions, releases -------------------------------------------

/** Content-addressed blobs (model files, reference profiles, health-check samples). Immutable. */
export const artifacts = pgTable(
  'artifacts',
  {
    sha256: sha256Hex('sha256').primaryKey(),
    length: counter('length').notNull(),
    mediaType: text('media_type').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('artifacts_sha256_hex', isSha256(t.sha256)),
    check('artifacts_length_nonneg', sql`${t.length} >= 0`),
  ],
);

/** A named model (`models/{name}`); versions hang off it. */
export const models = pgTable('models', {
  name: text('name').primaryKey(),
  description: text('description'),
  /** The last release counter handed out for this model (ARCHITECTURE §3: monotonic per model). */
  lastReleaseCounter: counter('last_release_counter').notNull().default(0),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

/** One pushed version of a model. Immutable: an UPDATE is refused by a trigger. */
export const modelVersions = pgTable(
  'model_versions',
  {
    modelName: text('model_name')
      .notNull()
      .references(() => models.name),
    version: text('version').notNull(),
    artifactSha256: sha256Hex('artifact_sha256')
      .notNull()
      .references(() => artifacts.sha256),
    /** What onnxruntime saw: inputs, outputs, types, shapes, opset. */
    inspection: jsonb('inspection').$type<JsonObject>().notNull(),
    metadata: jsonb('metadata').$type<ModelVersionMetadata>().notNull().default({}),
    /** How inputs/outputs are sketched (the protocol's feature spec), when known at push time. */
    featureSpec: jsonb('feature_spec').$type<JsonObject>(),
    referenceProfileSha256: sha256Hex('reference_profile_sha256').references(
      () => artifacts.sha256,
    ),
    createdBy: text('created_by'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'model_versions_pk', columns: [t.modelName, t.version] }),
    index('model_versions_artifact_idx').on(t.artifactSha256),
  ],
);

/** A signed release document of one model version. Immutable: an UPDATE is refused by a trigger. */
export const releases = pgTable(
  'releases',
  {
    releaseId: text('release_id').primaryKey(),
    modelName: text('model_name').notNull(),
    modelVersion: text('model_version').notNull(),
    releaseCounter: counter('release_counter').notNull(),
    /** The signed envelope exactly as served: RFC 8785 canonical JSON text. */
    envelope: text('envelope').notNull(),
    /** sha256 of the release document bytes that directives name. */
    sha256: sha256Hex('sha256').notNull(),
    createdBy: text('created_by'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    expiresAt: tstz('expires_at').notNull(),
  },
  (t) => [
    foreignKey({
      name: 'releases_model_version_fk',
      columns: [t.modelName, t.modelVersion],
      foreignColumns: [modelVersions.modelName, modelVersions.version],
    }),
    uniqueIndex('releases_model_counter_uq').on(t.modelName, t.releaseCounter),
    index('releases_created_idx').on(t.createdAt),
    check('releases_counter_positive', sql`${t.releaseCounter} > 0`),
    check('releases_sha256_hex', isSha256(t.sha256)),
  ],
);

// --- Trust ---------------------------------------------------------------------------------------

/** Every root metadata version ever published (devices walk the chain N -> N+1). */
export const trustRoots = pgTable('trust_roots', {
  version: integer('version').primaryKey(),
  /** The signed root envelope, canonical JSON text. */
  envelope: text('envelope').notNull(),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

/**
 * Public halves of the signing keys and which ones are in use. Private keys never enter the database:
 * they live in files under the data dir (`privateKeyRef`), or offline (null ref) for root keys kept
 * elsewhere.
 */
export const signingKeys = pgTable(
  'signing_keys',
  {
    keyid: text('keyid').primaryKey(),
    role: text('role', { enum: SIGNING_ROLES }).notNull(),
    /** The public key object whose canonical JSON sha256 is the keyid. */
    publicKey: jsonb('public_key').$type<JsonObject>().notNull(),
    /** File name of the private key under the data dir; null when this control plane does not hold it. */
    privateKeyRef: text('private_key_ref'),
    /** True when the private key file is encrypted (passphrase needed to sign). */
    privateKeyEncrypted: boolean('private_key_encrypted').notNull().default(false),
    active: boolean('active').notNull().default(true),
    createdAt: tstz('created_at').notNull().defaultNow(),
    retiredAt: tstz('retired_at'),
  },
  (t) => [
    index('signing_keys_role_idx').on(t.role, t.active),
    check('signing_keys_role_check', oneOf(t.role, SIGNING_ROLES)),
  ],
);

// --- Fleet ---------------------------------------------------------------------------------------

export const devices = pgTable(
  'devices',
  {
    id: text('id').primaryKey(),
    hardwareClass: text('hardware_class').notNull(),
    os: text('os').notNull(),
    arch: text('arch').notNull(),
    ortVersion: text('ort_version').notNull(),
    /** Execution providers the device offers, in its order of preference. */
    executionProviders: jsonb('execution_providers').$type<string[]>().notNull().default([]),
    labels: jsonb('labels').$type<Labels>().notNull().default({}),
    status: text('status', { enum: DEVICE_STATUSES }).notNull().default('active'),
    enrolledAt: tstz('enrolled_at').notNull().defaultNow(),
    decommissionedAt: tstz('decommissioned_at'),
    lastSeenAt: tstz('last_seen_at'),
    /** The release the device last reported as active (device-reported: not a foreign key). */
    currentReleaseId: text('current_release_id'),
    online: boolean('online').notNull().default(false),
  },
  (t) => [
    // jsonb_ops (the default class) serves both `@>` (=, in) and `?` (exists) selector terms.
    index('devices_labels_gin').using('gin', t.labels),
    index('devices_status_idx').on(t.status),
    index('devices_hardware_class_idx').on(t.hardwareClass),
    check('devices_status_check', oneOf(t.status, DEVICE_STATUSES)),
    // The protocol's device id rule (topics.ts): no MQTT wildcards or separators can reach a topic.
    check('devices_id_format', sql`${t.id} ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'`),
  ],
);

/** MQTT credentials of a device; the hash is Mosquitto's PBKDF2-SHA512 `$7$` form. */
export const deviceTokens = pgTable(
  'device_tokens',
  {
    id: counter('id').primaryKey().generatedAlwaysAsIdentity(),
    deviceId: text('device_id')
      .notNull()
      .references(() => devices.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    revokedAt: tstz('revoked_at'),
  },
  (t) => [
    index('device_tokens_device_idx')
      .on(t.deviceId)
      .where(sql`${t.revokedAt} is null`),
  ],
);

/** Enrollment tokens; only the sha256 of the (high-entropy) token is stored. */
export const enrollmentTokens = pgTable(
  'enrollment_tokens',
  {
    id: text('id').primaryKey(),
    tokenHash: sha256Hex('token_hash').notNull().unique('enrollment_tokens_hash_uq'),
    /** Labels given to every device enrolled with this token. */
    labels: jsonb('labels').$type<Labels>().notNull().default({}),
    expiresAt: tstz('expires_at').notNull(),
    maxUses: integer('max_uses').notNull(),
    uses: integer('uses').notNull().default(0),
    createdBy: text('created_by'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    revokedAt: tstz('revoked_at'),
  },
  (t) => [
    check('enrollment_tokens_uses_check', sql`${t.uses} >= 0 and ${t.uses} <= ${t.maxUses}`),
    check('enrollment_tokens_max_uses_check', sql`${t.maxUses} >= 1`),
  ],
);

/** Operator bearer tokens; only the sha256 of the (high-entropy) token is stored. */
export const operatorTokens = pgTable(
  'operator_tokens',
  {
    id: text('id').primaryKey(),
    tokenHash: sha256Hex('token_hash').notNull().unique('operator_tokens_hash_uq'),
    name: text('name').notNull(),
    role: text('role', { enum: OPERATOR_ROLES }).notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    expiresAt: tstz('expires_at'),
    revokedAt: tstz('revoked_at'),
    lastUsedAt: tstz('last_used_at'),
  },
  (t) => [check('operator_tokens_role_check', oneOf(t.role, OPERATOR_ROLES))],
);

// --- Rollouts ------------------------------------------------------------------------------------

export const rollouts = pgTable(
  'rollouts',
  {
    id: text('id').primaryKey(),
    releaseId: text('release_id')
      .notNull()
      .references(() => releases.releaseId),
    /** The release devices fall back to / are compared against (gates "vs baseline"). */
    baselineReleaseId: text('baseline_release_id').references(() => releases.releaseId),
    /** The selector as the operator wrote it, and its parsed predicate list. */
    selectorText: text('selector_text').notNull().default(''),
    selector: jsonb('selector').$type<LabelPredicate[]>().notNull().default([]),
    state: text('state', { enum: ROLLOUT_STATES }).notNull().default('draft'),
    /** Wave gates (error rate, p95 latency, output drift), abort criteria, rate and timeouts. */
    gates: jsonb('gates').$type<JsonObject>().notNull().default({}),
    abortCriteria: jsonb('abort_criteria').$type<JsonObject>().notNull().default({}),
    maxDevicesPerMinute: integer('max_devices_per_minute'),
    requiresApproval: boolean('requires_approval').notNull().default(false),
    approvedBy: text('approved_by'),
    approvedAt: tstz('approved_at'),
    /** Why the rollout was aborted or cancelled (a stable code where there is one). */
    reason: text('reason'),
    createdBy: text('created_by'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
    /** The release's model: a newer rollout of the same model supersedes the running ones. */
    modelName: text('model_name')
      .notNull()
      .references(() => models.name),
    kind: text('kind', { enum: ROLLOUT_KINDS }).notNull().default('deploy'),
    /** The normalized rollout spec (control-plane/src/rollouts/spec.ts); the scheduler reads this. */
    spec: jsonb('spec').$type<JsonObject>().notNull().default({}),
    /** Devices that matched the selector when the first wave started (percent sizes are of this). */
    fleetSize: integer('fleet_size'),
    /** The rollout that superseded this one. */
    supersededBy: text('superseded_by'),
    /** Kind `rollback`: the aborted rollout whose devices this one sends back... */
    rollbackOf: text('rollback_of').references((): AnyPgColumn => rollouts.id),
    /** ...to this release (their previous one), through a new release pointing at its artifacts. */
    rollbackTargetReleaseId: text('rollback_target_release_id').references(
      () => releases.releaseId,
    ),
    /** Aborted rollouts: whether the fleet rollback rollouts have been created yet. */
    rollbackStatus: text('rollback_status', { enum: ROLLBACK_STATUSES }),
    /** Aborted rollouts: the fleet rollback (rollback rollouts per previous release, devices left out). */
    rollbackSummary: jsonb('rollback_summary').$type<JsonObject>(),
  },
  (t) => [
    index('rollouts_state_idx').on(t.state),
    index('rollouts_release_idx').on(t.releaseId),
    index('rollouts_model_state_idx').on(t.modelName, t.state),
    uniqueIndex('rollouts_rollback_uq').on(t.rollbackOf, t.rollbackTargetReleaseId),
    check('rollouts_state_check', oneOf(t.state, ROLLOUT_STATES)),
    check('rollouts_kind_check', oneOf(t.kind, ROLLOUT_KINDS)),
    check(
      'rollouts_rollback_status_check',
      sql`${t.rollbackStatus} is null or ${oneOf(t.rollbackStatus, ROLLBACK_STATUSES)}`,
    ),
    check(
      'rollouts_rollback_of_check',
      sql`(${t.kind} = 'rollback') = (${t.rollbackOf} is not null and ${t.rollbackTargetReleaseId} is not null)`,
    ),
  ],
);

export const waves = pgTable(
  'waves',
  {
    rolloutId: text('rollout_id')
      .notNull()
      .references(() => rollouts.id, { onDelete: 'cascade' }),
    /** 0-based position in the rollout. */
    waveIndex: integer('wave_index').notNull(),
    name: text('name').notNull().default(''),
    /** Size: an absolute device count or a percentage of the matching fleet (exactly one is set). */
    targetCount: integer('target_count'),
    targetPercent: doublePrecision('target_percent'),
    state: text('state', { enum: WAVE_STATES }).notNull().default('pending'),
    soakSeconds: integer('soak_seconds').notNull().default(0),
    timeoutSeconds: integer('timeout_seconds').notNull(),
    /** Gate evaluation of the wave (inputs and verdict), written when it passes or fails. */
    verdict: jsonb('verdict').$type<JsonObject>(),
    startedAt: tstz('started_at'),
    soakStartedAt: tstz('soak_started_at'),
    finishedAt: tstz('finished_at'),
    /**
     * Devices covered once this wave is done (cumulative), fixed when the rollout's first wave starts;
     * null before that, and always for the last wave (every matching device).
     */
    cumulativeTarget: integer('cumulative_target'),
    /** Set when an operator approved starting this wave (approval before it was required). */
    approvedAt: tstz('approved_at'),
    approvedBy: text('approved_by'),
  },
  (t) => [
    primaryKey({ name: 'waves_pk', columns: [t.rolloutId, t.waveIndex] }),
    check('waves_state_check', oneOf(t.state, WAVE_STATES)),
    check('waves_target_check', sql`(${t.targetCount} is null) <> (${t.targetPercent} is null)`),
  ],
);

export const deviceDeployments = pgTable(
  'device_deployments',
  {
    id: counter('id').primaryKey().generatedAlwaysAsIdentity(),
    rolloutId: text('rollout_id').notNull(),
    waveIndex: integer('wave_index').notNull(),
    deviceId: text('device_id')
      .notNull()
      .references(() => devices.id),
    releaseId: text('release_id')
      .notNull()
      .references(() => releases.releaseId),
    state: text('state', { enum: DEVICE_DEPLOYMENT_STATES }).notNull().default('pending'),
    /** A reason code (`hash_mismatch`, ...) for `failed`, `rolled_back` and `timed_out`. */
    reason: text('reason'),
    directiveCounter: counter('directive_counter').notNull(),
    assignedAt: tstz('assigned_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    finishedAt: tstz('finished_at'),
    /** The release the device reported running when it was assigned (what a fleet rollback restores). */
    previousReleaseId: text('previous_release_id'),
    /** When the directive was handed to the broker; null until then (the outbox re-sends those). */
    publishedAt: tstz('published_at'),
    /** Directives sent for this deployment (1, plus one per operator retry). */
    attempts: integer('attempts').notNull().default(1),
    /** An operator asked to retry this failed or timed-out deployment; the scheduler re-sends it. */
    retryRequestedAt: tstz('retry_requested_at'),
  },
  (t) => [
    foreignKey({
      name: 'device_deployments_wave_fk',
      columns: [t.rolloutId, t.waveIndex],
      foreignColumns: [waves.rolloutId, waves.waveIndex],
    }).onDelete('cascade'),
    uniqueIndex('device_deployments_rollout_device_uq').on(t.rolloutId, t.deviceId),
    // A device's reports name the directive counter, which is unique per device.
    uniqueIndex('device_deployments_device_counter_uq').on(t.deviceId, t.directiveCounter),
    // At most one deployment per device is open: no device ever follows two racing directives.
    uniqueIndex('device_deployments_one_open_uq')
      .on(t.deviceId)
      .where(oneOf(t.state, OPEN_DEVICE_DEPLOYMENT_STATES)),
    index('device_deployments_wave_state_idx').on(t.rolloutId, t.waveIndex, t.state),
    index('device_deployments_device_idx').on(t.deviceId),
    index('device_deployments_unpublished_idx')
      .on(t.id)
      .where(sql`${t.state} = 'pending' and ${t.publishedAt} is null`),
    check('device_deployments_state_check', oneOf(t.state, DEVICE_DEPLOYMENT_STATES)),
  ],
);

/** Every gate decision of a rollout, with the values it was made on (ARCHITECTURE §5.8). */
export const gateEvaluations = pgTable(
  'gate_evaluations',
  {
    id: counter('id').primaryKey().generatedAlwaysAsIdentity(),
    rolloutId: text('rollout_id')
      .notNull()
      .references(() => rollouts.id, { onDelete: 'cascade' }),
    /** The wave judged; null for abort criteria over the whole rollout. */
    waveIndex: integer('wave_index'),
    kind: text('kind', { enum: GATE_EVALUATION_KINDS }).notNull(),
    passed: boolean('passed').notNull(),
    /** One entry per check: metric, value, threshold, passed or skipped (and why). */
    checks: jsonb('checks').$type<JsonObject[]>().notNull().default([]),
    /** Device counts and anything else the decision used. */
    details: jsonb('details').$type<JsonObject>().notNull().default({}),
    windowStart: tstz('window_start'),
    windowEnd: tstz('window_end'),
    evaluatedAt: tstz('evaluated_at').notNull().defaultNow(),
  },
  (t) => [
    index('gate_evaluations_rollout_idx').on(t.rolloutId, t.id),
    check('gate_evaluations_kind_check', oneOf(t.kind, GATE_EVALUATION_KINDS)),
  ],
);

/** The last directiveCounter issued to each device (monotonic per device, ARCHITECTURE §3). */
export const deviceDirectiveCounters = pgTable('device_directive_counters', {
  deviceId: text('device_id')
    .primaryKey()
    .references(() => devices.id, { onDelete: 'cascade' }),
  lastCounter: counter('last_counter').notNull(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

// --- Telemetry and drift -----------------------------------------------------------------------

/**
 * Telemetry windows already ingested, by the device's sequence number: the dedupe record that makes
 * at-least-once delivery (a spooled window re-sent after a crash) count once. Pruned after the
 * acceptance horizon (windows older than it are refused anyway).
 */
export const telemetrySeqs = pgTable(
  'telemetry_seqs',
  {
    deviceId: text('device_id').notNull(),
    seq: counter('seq').notNull(),
    /** The window's own start (device clock), for pruning. */
    windowStart: tstz('window_start').notNull(),
    receivedAt: tstz('received_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'telemetry_seqs_pk', columns: [t.deviceId, t.seq] }),
    index('telemetry_seqs_window_idx').on(t.windowStart),
  ],
);

/**
 * Telemetry per device x release x aggregation window (the device's windows merged into the
 * aggregation window their start falls in). Kept for a shorter retention than the aggregates; this is
 * what wave-level rollups (a set of device ids) read.
 */
export const telemetryDeviceWindows = pgTable(
  'telemetry_device_windows',
  {
    deviceId: text('device_id').notNull(),
    releaseId: text('release_id').notNull(),
    /** Start of the aggregation window (aligned to the window length). */
    windowStart: tstz('window_start').notNull(),
    windowSeconds: integer('window_seconds').notNull(),
    /** The device's cohort when the window was ingested. */
    cohort: text('cohort').notNull().default(''),
    /** Merged input/output profile (wire form), null when no window carried one. */
    profile: jsonb('profile').$type<JsonObject>(),
    /** Merged latency DDSketch (wire form). */
    latency: jsonb('latency').$type<JsonObject>(),
    inferences: counter('inferences').notNull().default(0),
    errors: counter('errors').notNull().default(0),
    windowsMerged: counter('windows_merged').notNull().default(0),
    executionProvider: text('execution_provider'),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({
      name: 'telemetry_device_windows_pk',
      columns: [t.deviceId, t.releaseId, t.windowStart],
    }),
    index('telemetry_device_windows_release_idx').on(t.releaseId, t.windowStart),
    index('telemetry_device_windows_window_idx').on(t.windowStart),
  ],
);

/** Merged telemetry per release x cohort x window (ARCHITECTURE §5.8). */
export const telemetryAggregates = pgTable(
  'telemetry_aggregates',
  {
    releaseId: text('release_id').notNull(),
    /** Cohort key (e.g. a hardware class or a label set); '' is the whole fleet. */
    cohort: text('cohort').notNull().default(''),
    windowStart: tstz('window_start').notNull(),
    windowSeconds: integer('window_seconds').notNull(),
    /** Merged input/output profile (sketches in their wire form), null when no window carried one. */
    profile: jsonb('profile').$type<JsonObject>(),
    /** Merged latency DDSketch (wire form). */
    latency: jsonb('latency').$type<JsonObject>(),
    inferences: counter('inferences').notNull().default(0),
    errors: counter('errors').notNull().default(0),
    /** Device windows merged into this row. */
    windowsMerged: counter('windows_merged').notNull().default(0),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({
      name: 'telemetry_aggregates_pk',
      columns: [t.releaseId, t.cohort, t.windowStart],
    }),
    index('telemetry_aggregates_window_idx').on(t.windowStart),
  ],
);

/** The latest health summary each device reported. */
export const deviceHealth = pgTable(
  'device_health',
  {
    deviceId: text('device_id')
      .primaryKey()
      .references(() => devices.id, { onDelete: 'cascade' }),
    releaseId: text('release_id'),
    windowStart: tstz('window_start').notNull(),
    windowSeconds: integer('window_seconds').notNull(),
    inferences: counter('inferences').notNull().default(0),
    errors: counter('errors').notNull().default(0),
    latencyP50Ms: doublePrecision('latency_p50_ms'),
    latencyP95Ms: doublePrecision('latency_p95_ms'),
    /** The execution provider actually used. */
    executionProvider: text('execution_provider'),
    /** Telemetry windows the device dropped from its offline spool. */
    spoolDrops: counter('spool_drops').notNull().default(0),
    details: jsonb('details').$type<JsonObject>().notNull().default({}),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [index('device_health_release_idx').on(t.releaseId)],
);

/** Drift monitor configuration per model (`PUT /v1/models/{name}/monitor`); absent: defaults. */
export const driftMonitors = pgTable('drift_monitors', {
  modelName: text('model_name')
    .primaryKey()
    .references(() => models.name, { onDelete: 'cascade' }),
  /** The monitor configuration (validated by the drift module's schema). */
  config: jsonb('config').$type<JsonObject>().notNull(),
  updatedBy: text('updated_by'),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

/**
 * Drift monitor state per release x cohort (all its feature sets), written in the transaction that
 * evaluates a window: a restarted or second control plane resumes exactly where this one stopped.
 */
export const driftMonitorStates = pgTable(
  'drift_monitor_states',
  {
    releaseId: text('release_id').notNull(),
    cohort: text('cohort').notNull(),
    modelName: text('model_name').notNull(),
    /** The last aggregation window evaluated (windows up to it are never evaluated again). */
    lastWindowStart: tstz('last_window_start'),
    state: jsonb('state').$type<JsonObject>().notNull().default({}),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'drift_monitor_states_pk', columns: [t.releaseId, t.cohort] }),
    index('drift_monitor_states_model_idx').on(t.modelName),
  ],
);

/** Per-window drift verdicts: the metric series `GET /v1/drift` returns. */
export const driftWindowResults = pgTable(
  'drift_window_results',
  {
    releaseId: text('release_id').notNull(),
    cohort: text('cohort').notNull(),
    /** `inputs`, `outputs`, or `all` when the release has no feature spec. */
    featureSet: text('feature_set').notNull(),
    windowStart: tstz('window_start').notNull(),
    windowSeconds: integer('window_seconds').notNull(),
    modelName: text('model_name').notNull(),
    /** over | ok | under | between | insufficient (the monitor's reading of the window). */
    verdict: text('verdict').notNull(),
    /** Per feature: metric, value, threshold, status, n, referenceN. */
    features: jsonb('features').$type<JsonObject[]>().notNull().default([]),
    evaluatedAt: tstz('evaluated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({
      name: 'drift_window_results_pk',
      columns: [t.releaseId, t.cohort, t.featureSet, t.windowStart],
    }),
    index('drift_window_results_model_idx').on(t.modelName, t.windowStart),
    index('drift_window_results_window_idx').on(t.windowStart),
  ],
);

export const driftEvents = pgTable(
  'drift_events',
  {
    id: counter('id').primaryKey().generatedAlwaysAsIdentity(),
    releaseId: text('release_id').notNull(),
    modelName: text('model_name').notNull(),
    cohort: text('cohort').notNull().default(''),
    /** `inputs`, `outputs` (prediction drift) or `all`. */
    featureSet: text('feature_set').notNull().default('all'),
    /** The feature that drifted most (largest value / threshold) when the event opened. */
    feature: text('feature').notNull(),
    /** Its metric: js | psi | ks | wasserstein | categorical_js | linf */
    metric: text('metric').notNull(),
    value: doublePrecision('value').notNull(),
    threshold: doublePrecision('threshold').notNull(),
    /** Every feature that drifted while the event was firing, with its latest metric values. */
    features: jsonb('features').$type<JsonObject[]>().notNull().default([]),
    status: text('status', { enum: DRIFT_EVENT_STATUSES }).notNull().default('firing'),
    /** The window that opened the event. */
    windowStart: tstz('window_start').notNull(),
    windowEnd: tstz('window_end').notNull(),
    /** The last window that was over threshold. */
    lastWindowStart: tstz('last_window_start').notNull(),
    details: jsonb('details').$type<JsonObject>().notNull().default({}),
    detectedAt: tstz('detected_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    resolvedAt: tstz('resolved_at'),
  },
  (t) => [
    index('drift_events_release_idx').on(t.releaseId, t.detectedAt),
    index('drift_events_model_idx').on(t.modelName, t.detectedAt),
    // One open event per model release x cohort x feature set.
    uniqueIndex('drift_events_one_firing_uq')
      .on(t.modelName, t.releaseId, t.cohort, t.featureSet)
      .where(sql`${t.status} = 'firing'`),
    check('drift_events_status_check', oneOf(t.status, DRIFT_EVENT_STATUSES)),
  ],
);

export const retrainingRequests = pgTable(
  'retraining_requests',
  {
    id: text('id').primaryKey(),
    /** Dedupe key: the same trigger never creates two requests. */
    idempotencyKey: text('idempotency_key').notNull().unique('retraining_requests_idempotency_uq'),
    modelName: text('model_name').notNull(),
    releaseId: text('release_id'),
    cohort: text('cohort').notNull().default(''),
    featureSet: text('feature_set').notNull().default('all'),
    driftEventId: counter('drift_event_id').references(() => driftEvents.id),
    reason: text('reason').notNull(),
    status: text('status', { enum: RETRAINING_REQUEST_STATUSES }).notNull().default('pending'),
    /** The window that triggered the request. */
    windowStart: tstz('window_start'),
    windowEnd: tstz('window_end'),
    /** Sample counts: inferences, device windows, values per drifted feature. */
    samples: jsonb('samples').$type<JsonObject>().notNull().default({}),
    /** The drifted features: feature, metric, value, threshold. */
    features: jsonb('features').$type<JsonObject[]>().notNull().default([]),
    details: jsonb('details').$type<JsonObject>().notNull().default({}),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('retraining_requests_model_idx').on(t.modelName, t.createdAt),
    index('retraining_requests_created_idx').on(t.createdAt),
    check('retraining_requests_status_check', oneOf(t.status, RETRAINING_REQUEST_STATUSES)),
  ],
);

// --- Webhooks ------------------------------------------------------------------------------------

export const webhooks = pgTable('webhooks', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  /** HMAC key for the signature header; kept readable because every delivery is signed with it. */
  secret: text('secret').notNull(),
  /** Event types delivered; empty means all. */
  events: jsonb('events').$type<string[]>().notNull().default([]),
  active: boolean('active').notNull().default(true),
  createdBy: text('created_by'),
  createdAt: tstz('created_at').notNull().defaultNow(),
});

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: counter('id').primaryKey().generatedAlwaysAsIdentity(),
    webhookId: text('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    event: text('event').notNull(),
    /** The event envelope sent as the request body (`{id, type, createdAt, data}`). */
    payload: jsonb('payload').$type<JsonObject>().notNull(),
    status: text('status', { enum: WEBHOOK_DELIVERY_STATUSES }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: tstz('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    responseStatus: integer('response_status'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    deliveredAt: tstz('delivered_at'),
  },
  (t) => [
    index('webhook_deliveries_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`${t.status} = 'pending'`),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.createdAt),
    check('webhook_deliveries_status_check', oneOf(t.status, WEBHOOK_DELIVERY_STATUSES)),
  ],
);

/** The delivery log: one row per attempt. */
export const webhookDeliveryAttempts = pgTable(
  'webhook_delivery_attempts',
  {
    id: counter('id').primaryKey().generatedAlwaysAsIdentity(),
    deliveryId: counter('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    /** 1-based. */
    attempt: integer('attempt').notNull(),
    at: tstz('at').notNull(),
    durationMs: integer('duration_ms').notNull(),
    /** HTTP status of the response, null when none arrived. */
    statusCode: integer('status_code'),
    error: text('error'),
    /** When the next attempt is due; null when this was the last one. */
    nextAttemptAt: tstz('next_attempt_at'),
  },
  (t) => [index('webhook_delivery_attempts_delivery_idx').on(t.deliveryId, t.attempt)],
);

// --- Audit and meta --------------------------------------------------------------------------------

/** Every change made through the operator surface (ARCHITECTURE §6), append-only. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: counter('id').primaryKey().generatedAlwaysAsIdentity(),
    at: tstz('at').notNull().defaultNow(),
    /** Who: an operator token name, `device:<id>`, or `system`. */
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    target: text('target'),
    outcome: text('outcome', { enum: AUDIT_OUTCOMES }).notNull(),
    details: jsonb('details').$type<JsonObject>().notNull().default({}),
  },
  (t) => [
    index('audit_log_target_idx').on(t.target, t.id),
    index('audit_log_actor_idx').on(t.actor, t.id),
    check('audit_log_outcome_check', oneOf(t.outcome, AUDIT_OUTCOMES)),
  ],
);

/** Small control-plane facts (bootstrap done, schema notes, leader heartbeat, ...). */
export const meta = pgTable('meta', {
  key: text('key').primaryKey(),
  value: jsonb('value').$type<unknown>().notNull(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

// --- Row types -------------------------------------------------------------------------------------

export type Artifact = typeof artifacts.$inferSelect;
export type NewArtifact = typeof artifacts.$inferInsert;
export type Model = typeof models.$inferSelect;
export type NewModel = typeof models.$inferInsert;
export type ModelVersion = typeof modelVersions.$inferSelect;
export type NewModelVersion = typeof modelVersions.$inferInsert;
export type Release = typeof releases.$inferSelect;
export type NewRelease = typeof releases.$inferInsert;
export type TrustRoot = typeof trustRoots.$inferSelect;
export type NewTrustRoot = typeof trustRoots.$inferInsert;
export type SigningKey = typeof signingKeys.$inferSelect;
export type NewSigningKey = typeof signingKeys.$inferInsert;
export type Device = typeof devices.$inferSelect;
export type NewDevice = typeof devices.$inferInsert;
export type DeviceToken = typeof deviceTokens.$inferSelect;
export type NewDeviceToken = typeof deviceTokens.$inferInsert;
export type EnrollmentToken = typeof enrollmentTokens.$inferSelect;
export type NewEnrollmentToken = typeof enrollmentTokens.$inferInsert;
export type OperatorToken = typeof operatorTokens.$inferSelect;
export type NewOperatorToken = typeof operatorTokens.$inferInsert;
export type Rollout = typeof rollouts.$inferSelect;
export type NewRollout = typeof rollouts.$inferInsert;
export type Wave = typeof waves.$inferSelect;
export type NewWave = typeof waves.$inferInsert;
export type DeviceDeployment = typeof deviceDeployments.$inferSelect;
export type NewDeviceDeployment = typeof deviceDeployments.$inferInsert;
export type GateEvaluationRow = typeof gateEvaluations.$inferSelect;
export type NewGateEvaluationRow = typeof gateEvaluations.$inferInsert;
export type DeviceDirectiveCounter = typeof deviceDirectiveCounters.$inferSelect;
export type TelemetryAggregate = typeof telemetryAggregates.$inferSelect;
export type NewTelemetryAggregate = typeof telemetryAggregates.$inferInsert;
export type TelemetrySeq = typeof telemetrySeqs.$inferSelect;
export type TelemetryDeviceWindow = typeof telemetryDeviceWindows.$inferSelect;
export type NewTelemetryDeviceWindow = typeof telemetryDeviceWindows.$inferInsert;
export type DeviceHealth = typeof deviceHealth.$inferSelect;
export type NewDeviceHealth = typeof deviceHealth.$inferInsert;
export type DriftMonitorRow = typeof driftMonitors.$inferSelect;
export type DriftMonitorStateRow = typeof driftMonitorStates.$inferSelect;
export type DriftWindowResult = typeof driftWindowResults.$inferSelect;
export type NewDriftWindowResult = typeof driftWindowResults.$inferInsert;
export type DriftEvent = typeof driftEvents.$inferSelect;
export type NewDriftEvent = typeof driftEvents.$inferInsert;
export type RetrainingRequest = typeof retrainingRequests.$inferSelect;
export type NewRetrainingRequest = typeof retrainingRequests.$inferInsert;
export type Webhook = typeof webhooks.$inferSelect;
export type NewWebhook = typeof webhooks.$inferInsert;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
export type NewWebhookDelivery = typeof webhookDeliveries.$inferInsert;
export type WebhookDeliveryAttempt = typeof webhookDeliveryAttempts.$inferSelect;
export type AuditEntry = typeof auditLog.$inferSelect;
export type NewAuditEntry = typeof auditLog.$inferInsert;
export type MetaEntry = typeof meta.$inferSelect;
