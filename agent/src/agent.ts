/**
 * The Edgefleet device agent as an embeddable class: the `edgefleet-agent` service runs one, the
 * fleet simulator runs thousands in one process (so everything heavy is shared or injected: the
 * model runtime, the clock, fetch, the MQTT connector).
 *
 * ```ts
 * const agent = new Agent({ config, runtime: new OrtWorkerRuntime(), logger });
 * agent.on('deployment', (e) => console.log(e.releaseId, e.state, e.reason));
 * await agent.start();
 * const { outputs } = await agent.infer({ input: { type: 'float32', dims: [1, 4], data } });
 * await agent.stop();
 * ```
 *
 * `start` recovers the state directory (trust state, A/B slots, deployment journal), loads the
 * active model, serves the local API if configured, and connects to the broker in the background
 * (a device may well be offline). `stop` cancels a download or soak in progress (resumed on the
 * next start), delivers or spools the last telemetry window, says offline and disconnects. The
 * runtime is the caller's: `stop` disposes the agent's models, never the runtime.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import {
  EdgefleetError,
  encodeMessage,
  MetricsRegistry,
  openEnvelope,
  presenceTopic,
  stateTopic,
  statusTopic,
  telemetryTopic,
  type CommandMessage,
  type DeploymentReason,
  type DeploymentState,
  type DeviceFacts,
  type ErrorCode,
  type ReleaseDocument,
  type ReleaseRef,
  type StateMessage,
} from '@edgefleet/protocol';
import type { Logger } from 'pino';
import { createInferenceMetrics, type InferenceMetrics } from './api/inference-metrics.js';
import { checkInputs } from './api/input-check.js';
import { createLocalApi, type InferenceEvent } from './api/local-api.js';
import { serveLocalApi, type LocalApiAddress, type LocalApiServer } from './api/serve-local-api.js';
import type { AgentConfig } from './config/agent-config.js';
import { deviceFacts, detectOrtFacts, type RuntimeFacts } from './config/device-facts.js';
import { ensureStateDirs, statePaths } from './config/state-dir.js';
import { TrustStore } from './config/trust-store.js';
import { createAgentMetrics, type AgentMetrics } from './core/agent-metrics.js';
import type { BackoffOptions } from './core/backoff.js';
import { systemClock, withinRealTime, type AgentClock } from './core/clock.js';
import { ModelHost } from './core/model-host.js';
import { AGENT_VERSION } from './core/version.js';
import { downloadRelease } from './download/release-download.js';
import {
  MqttSession,
  type Inbound,
  type InboundKind,
  type MqttConnect,
} from './mqtt/mqtt-session.js';
import { Outbox } from './mqtt/outbox.js';
import { DeploymentJournal } from './reconcile/deployment-journal.js';
import { Reconciler, type DeploymentView, type StatusReport } from './reconcile/reconciler.js';
import type { LoadedModel, ModelRuntime, RunOptions, TensorData } from './runtime/model-runtime.js';
import type { DiskSpaceProbe } from './store/disk-space.js';
import { SlotStore } from './store/slots.js';
import {
  TelemetryReporter,
  type TelemetryStats,
  type TelemetryWindowEvent,
} from './telemetry/telemetry-reporter.js';

/** Knobs with sensible defaults that tests and the fleet simulator turn. */
export interface AgentTuning {
  /** MQTT reconnect back-off; default base 1 s, cap 60 s, jittered. */
  readonly reconnectBackoff?: BackoffOptions;
  /** Consecutive download attempts without progress before `download_failed`; default 5. */
  readonly downloadRetries?: number;
  /** Download retry back-off; default base 1 s, cap 30 s, jittered. */
  readonly downloadBackoff?: BackoffOptions;
  /** A download attempt silent this long is retried; default 60 s. */
  readonly downloadIdleTimeoutMs?: number;
  /** Restarts during one soak before the release is rolled back; default 1. */
  readonly maxSoakRestarts?: number;
  /** Least time between download progress reports; default 5 s. */
  readonly progressIntervalMs?: number;
  /** fsync telemetry spool records; default true. */
  readonly durableSpool?: boolean;
  /**
   * fsync the state directory's writes (trust state, deployment journal, slots, telemetry seq
   * lease); default true. False keeps every write atomic (temp file and rename) but a power cut
   * may lose the last ones: only for state that need not outlive the machine, such as the fleet
   * simulator's temporary directories.
   */
  readonly durableState?: boolean;
  /** How start-up checks the installed slots; default `'hashes'`. */
  readonly slotVerify?: 'hashes' | 'lengths';
  /** Free space to keep on the state directory's file system; default 32 MiB (or 2 %). */
  readonly diskMarginBytes?: number;
}

export interface AgentOptions {
  readonly config: AgentConfig;
  /** Shared between agents: the agent loads its models with it and never closes it. */
  readonly runtime: ModelRuntime;
  readonly logger: Logger;
  /** Default: the system clock. */
  readonly clock?: AgentClock;
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** Free-space probe of the state directory (fake a full disk); default statfs. */
  readonly diskProbe?: DiskSpaceProbe;
  /** Default: MQTT.js `connectAsync`. */
  readonly mqttConnect?: MqttConnect;
  /** Jitter source for back-offs; default Math.random. */
  readonly random?: () => number;
  /** Default: detected from onnxruntime-node. */
  readonly runtimeFacts?: RuntimeFacts;
  /** Root to pin when the state directory has none (enrollment writes `root.json` instead). */
  readonly pinnedRoot?: Uint8Array;
  /** Registry for the local API's /metrics (one per agent); default a registry of its own. */
  readonly metrics?: MetricsRegistry;
  readonly tuning?: AgentTuning;
}

/** One reported deployment transition (what goes out on `status`). */
export interface DeploymentEvent {
  readonly releaseId: string;
  readonly directiveCounter: number;
  readonly state: DeploymentState;
  readonly reason?: DeploymentReason;
  readonly detail?: string;
}

/** The agent's events. Listeners must not throw (a throwing listener is logged and ignored). */
export interface AgentEvents {
  /** Every deployment transition reported on `status`, refusals included. */
  deployment: [DeploymentEvent];
  connected: [];
  disconnected: [];
  reconnect_scheduled: [{ readonly attempt: number; readonly delayMs: number }];
  /** A telemetry window was published, spooled, dropped or drained from the spool. */
  telemetry: [TelemetryWindowEvent];
  trust_root: [{ readonly from: number; readonly to: number }];
  /** An incoming MQTT payload was malformed (or on an unexpected topic) and dropped. */
  malformed: [{ readonly kind: InboundKind; readonly code: ErrorCode; readonly message: string }];
  command: [CommandMessage];
  /** The serving model changed (null: none). */
  model_changed: [{ readonly releaseId: string | null }];
}

export interface InferResult {
  readonly releaseId: string;
  readonly outputs: Record<string, TensorData>;
  /** The model run alone, in milliseconds. */
  readonly latencyMs: number;
}

export interface AgentStatus {
  readonly deviceId: string;
  readonly running: boolean;
  readonly connected: boolean;
  readonly activeRelease: {
    readonly releaseId: string;
    readonly model: string;
    readonly version: string;
    readonly releaseCounter: number;
    readonly executionProvider: string;
  } | null;
  /** The release kept on disk to go back to. */
  readonly previousRelease: string | null;
  readonly deployment: DeploymentView | null;
  readonly queued: DeploymentView | null;
  readonly soak?: {
    readonly releaseId: string;
    readonly inferences: number;
    readonly errors: number;
  };
  readonly trust: { readonly rootVersion: number; readonly directiveCounter: number };
  /** Served model runs and failed ones since start (what telemetry counts). */
  readonly inference: { readonly requests: number; readonly errors: number };
  readonly malformedMessages: Readonly<Record<InboundKind, number>>;
  readonly telemetry: TelemetryStats | null;
  readonly outbox: { readonly queued: number; readonly dropped: number };
}

/** Run options of `infer`: the inputs are profiled after the run, so they are never moved. */
const KEEP_INPUTS: RunOptions = { transferInputs: false };

/** Real time `stop` gives the broker to acknowledge the last reports (a network bound). */
const STOP_GRACE_MS = 2000;

interface Running {
  readonly device: DeviceFacts;
  readonly facts: RuntimeFacts;
  readonly trust: TrustStore;
  readonly slots: SlotStore;
  readonly models: ModelHost;
  readonly reconciler: Reconciler;
  readonly telemetry: TelemetryReporter;
  readonly session: MqttSession;
  readonly outbox: Outbox;
  readonly localApi: LocalApiServer | undefined;
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly config: AgentConfig;
  private readonly clock: AgentClock;
  private readonly logger: Logger;
  private readonly metrics: MetricsRegistry;
  private readonly inferenceMetrics: InferenceMetrics;
  private readonly agentMetrics: AgentMetrics;
  private running: Running | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private requests = 0;
  private errors = 0;
  private readonly malformed: Record<InboundKind, number> = {
    desired: 0,
    cmd: 0,
    trust_root: 0,
    unexpected_topic: 0,
  };

  constructor(private readonly options: AgentOptions) {
    super();
    this.config = options.config;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger.child({ deviceId: options.config.deviceId });
    this.metrics = options.metrics ?? new MetricsRegistry();
    this.inferenceMetrics = createInferenceMetrics(this.metrics);
    this.agentMetrics = createAgentMetrics(this.metrics, () => this.connected);
  }

  /** Where the local API listens, once started (undefined when `localApi` is null). */
  get localApiAddress(): LocalApiAddress | undefined {
    return this.running?.localApi?.address;
  }

  get connected(): boolean {
    return this.running?.session.connected ?? false;
  }

  /** Recover the state directory, load the active model, serve, connect. */
  start(): Promise<void> {
    if (this.stopping !== undefined) return Promise.reject(new Error('the agent was stopped'));
    this.starting ??= this.startNow();
    return this.starting;
  }

  /** Stop everything the agent started (idempotent). */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  /**
   * Run the active model, exactly as the local API does (checks, metrics, telemetry, soak counts).
   * Rejects with an EdgefleetError: EF_NO_MODEL, EF_BAD_REQUEST (inputs do not match the model),
   * or the runtime's error when the model fails.
   */
  async infer(
    feeds: Readonly<Record<string, TensorData>>,
    options?: RunOptions,
  ): Promise<InferResult> {
    const metrics = this.inferenceMetrics;
    const active = this.running?.models.active;
    if (active === undefined) {
      metrics.errors.inc({ code: 'EF_NO_MODEL' });
      throw new EdgefleetError('EF_NO_MODEL', 'no model is active yet');
    }
    const checked = checkInputs(active.loaded.inputs, feeds);
    if (!checked.ok) {
      metrics.errors.inc({ code: 'EF_BAD_REQUEST' });
      throw new EdgefleetError('EF_BAD_REQUEST', checked.message);
    }
    metrics.inferences.inc();
    const started = performance.now();
    let outputs: Record<string, TensorData>;
    try {
      // Inputs stay with us for profiling: never transferred.
      outputs = await runModel(
        active.loaded,
        feeds,
        options === undefined ? KEEP_INPUTS : { ...options, transferInputs: false },
      );
    } catch (error) {
      const latencyMs = performance.now() - started;
      const e =
        error instanceof EdgefleetError
          ? error
          : new EdgefleetError('EF_INTERNAL', String(error), { cause: error });
      metrics.errors.inc({ code: e.code });
      this.onInference({
        releaseId: active.releaseId,
        inputs: feeds,
        latencyMs,
        error: { code: e.code, message: e.message },
      });
      throw e;
    }
    const latencyMs = performance.now() - started;
    metrics.latency.observe(latencyMs / 1000);
    this.onInference({ releaseId: active.releaseId, inputs: feeds, outputs, latencyMs });
    return { releaseId: active.releaseId, outputs, latencyMs };
  }

  /** Close the telemetry window now (as the `flush_telemetry` command does). */
  async flushTelemetry(): Promise<void> {
    await this.running?.telemetry.flush();
  }

  /** Publish the `state` report now (as the `publish_state` command does). */
  async publishState(): Promise<void> {
    const r = this.running;
    if (r === undefined) return;
    const message = await this.stateMessage(r);
    this.sendEncoded(r, stateTopic(this.config.deviceId), 'state', message, true);
  }

  status(): AgentStatus {
    const r = this.running;
    const active = r?.models.active;
    const view = r?.reconciler.view();
    const soak = r?.reconciler.soakProgress();
    return {
      deviceId: this.config.deviceId,
      running: r !== undefined,
      connected: this.connected,
      activeRelease:
        active === undefined
          ? null
          : {
              releaseId: active.releaseId,
              model: active.model.name,
              version: active.model.version,
              releaseCounter: active.release.releaseCounter,
              executionProvider: active.loaded.executionProvider,
            },
      previousRelease: r?.slots.state.previousRelease ?? null,
      deployment: view?.current ?? null,
      queued: view?.queued ?? null,
      ...(soak !== undefined ? { soak } : {}),
      trust: {
        rootVersion: r?.trust.state.rootVersion ?? 0,
        directiveCounter: r?.trust.state.directiveCounter ?? 0,
      },
      inference: { requests: this.requests, errors: this.errors },
      malformedMessages: { ...this.malformed },
      telemetry: r?.telemetry.stats() ?? null,
      outbox: { queued: r?.outbox.size ?? 0, dropped: r?.outbox.dropped ?? 0 },
    };
  }

  private async startNow(): Promise<void> {
    const { config, options } = this;
    const paths = statePaths(config.stateDir);
    await ensureStateDirs(paths);
    const facts = options.runtimeFacts ?? (await detectOrtFacts());
    const device = deviceFacts(config.deviceId, config.hardwareClass, facts);
    const durableState = options.tuning?.durableState ?? true;
    const trust = await TrustStore.open(paths, {
      ...(options.pinnedRoot ? { pinnedRoot: options.pinnedRoot } : {}),
      durable: durableState,
    });
    const slots = await SlotStore.open(paths.models, {
      verify: options.tuning?.slotVerify ?? 'hashes',
      durable: durableState,
      now: () => new Date(this.clock.now()),
      diskSpace: {
        ...(options.diskProbe ? { probe: options.diskProbe } : {}),
        ...(options.tuning?.diskMarginBytes !== undefined
          ? { marginBytes: options.tuning.diskMarginBytes, marginFraction: 0 }
          : {}),
      },
    });
    for (const action of slots.recovery) this.logger.warn({ action }, 'slot recovery');
    const { journal, problem } = await DeploymentJournal.open(paths.journal, {
      durable: durableState,
    });
    if (problem !== undefined) {
      this.logger.error(
        { err: problem },
        'the deployment journal is unreadable; starting without it',
      );
    }
    const models = new ModelHost(
      options.runtime,
      {
        executionProviders: config.executionProviders,
        ...(config.intraOpThreads !== undefined ? { intraOpThreads: config.intraOpThreads } : {}),
      },
      this.logger,
    );

    // The parts refer to each other through `this.running`, set once all exist.
    const outbox = new Outbox({
      publish: (topic, payload) => session.publish(topic, payload),
      isConnected: () => session.connected,
      onDrop: (m) => {
        this.logger.warn({ topic: m.topic }, 'report dropped from the offline queue');
      },
    });
    const tuning = options.tuning ?? {};
    const reconciler = new Reconciler({
      device,
      trust,
      journal,
      slots,
      models,
      clock: this.clock,
      logger: this.logger,
      soakDefaults: config.soakDefaults,
      durableState,
      ...(tuning.maxSoakRestarts !== undefined ? { maxSoakRestarts: tuning.maxSoakRestarts } : {}),
      ...(tuning.progressIntervalMs !== undefined
        ? { progressIntervalMs: tuning.progressIntervalMs }
        : {}),
      fetchRelease: (release, dir, o) =>
        downloadRelease(release, dir, {
          source: {
            apiUrl: config.apiUrl,
            deviceId: config.deviceId,
            deviceToken: config.deviceToken,
            fetch: options.fetch ?? fetch,
          },
          clock: this.clock,
          ...(options.random ? { random: options.random } : {}),
          ...(tuning.downloadRetries !== undefined ? { retries: tuning.downloadRetries } : {}),
          ...(tuning.downloadBackoff ? { backoff: tuning.downloadBackoff } : {}),
          ...(tuning.downloadIdleTimeoutMs !== undefined
            ? { idleTimeoutMs: tuning.downloadIdleTimeoutMs }
            : {}),
          signal: o.signal,
          onProgress: o.onProgress,
          onRetry: (file, attempt, delayMs, reason) => {
            this.logger.warn(
              { releaseId: release.releaseId, file, attempt, delayMs, reason },
              'download interrupted; retrying where it stopped',
            );
          },
        }),
      report: (status) => {
        this.reportStatus(status);
      },
      onModelChange: (phase) => {
        this.onModelChange(phase);
      },
    });
    const telemetry = await TelemetryReporter.open({
      deviceId: config.deviceId,
      intervalMs: config.telemetryIntervalSec * 1000,
      clock: this.clock,
      logger: this.logger,
      spoolDir: paths.spool,
      spoolMaxBytes: config.spoolMaxBytes,
      durableSpool: tuning.durableSpool ?? true,
      durableState,
      seqPath: paths.telemetrySeq,
      publish: (payload) => session.publish(telemetryTopic(config.deviceId), payload),
      isConnected: () => session.connected,
      activeModel: () => models.active,
      onWindow: (event) => {
        this.agentMetrics.telemetryWindows.inc({ delivery: event.delivery });
        this.emitSafe('telemetry', event);
      },
    });
    const session = new MqttSession({
      url: config.mqttUrl,
      deviceId: config.deviceId,
      token: config.deviceToken,
      keepaliveSec: config.mqttKeepaliveSec,
      clock: this.clock,
      logger: this.logger,
      ...(options.random ? { random: options.random } : {}),
      ...(tuning.reconnectBackoff ? { backoff: tuning.reconnectBackoff } : {}),
      ...(options.mqttConnect ? { connect: options.mqttConnect } : {}),
      presence: (online) =>
        encodeMessage('presence', {
          v: 1,
          type: 'presence',
          deviceId: config.deviceId,
          online,
          at: this.iso(),
        }),
      onConnected: () => this.onConnected(),
      onDisconnected: () => {
        this.emitSafe('disconnected');
      },
      onMessage: (inbound) => {
        this.onInbound(inbound);
      },
      onMalformed: (kind, failure) => {
        this.malformed[kind]++;
        this.agentMetrics.droppedMessages.inc({ kind, code: failure.code });
        this.emitSafe('malformed', { kind, code: failure.code, message: failure.message });
      },
      onReconnectScheduled: (attempt, delayMs) => {
        this.emitSafe('reconnect_scheduled', { attempt, delayMs });
      },
    });

    this.running = {
      device,
      facts,
      trust,
      slots,
      models,
      reconciler,
      telemetry,
      session,
      outbox,
      localApi: undefined,
    };
    await reconciler.recover();
    telemetry.rebind();

    let localApi: LocalApiServer | undefined;
    if (config.localApi !== null) {
      const app = createLocalApi({
        getModel: () => models.active,
        metrics: this.metrics,
        inferenceMetrics: this.inferenceMetrics,
        logger: this.logger,
        onInference: (event) => {
          this.onInference(event);
        },
      });
      localApi = await serveLocalApi(app, config.localApi);
      this.running = { ...this.running, localApi };
    }
    telemetry.start();
    reconciler.start();
    session.start();
    this.logger.info(
      { activeRelease: models.active?.releaseId ?? null, rootVersion: trust.state.rootVersion },
      'agent started',
    );
  }

  private async stopNow(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const r = this.running;
    if (r === undefined) return;
    await r.reconciler.stop();
    await r.telemetry.stop();
    // Reports still queued get a moment to leave; the next `state` on connect covers the rest.
    await withinRealTime(r.outbox.flush(), STOP_GRACE_MS);
    await r.session.stop(STOP_GRACE_MS);
    await r.localApi?.close();
    await r.models.disposeAll();
    this.running = undefined;
    this.logger.info('agent stopped');
  }

  private onInference(event: InferenceEvent): void {
    this.requests++;
    if (event.error !== undefined) this.errors++;
    const r = this.running;
    if (r === undefined) return;
    r.telemetry.observe(event);
    r.reconciler.observe(event);
  }

  private async onConnected(): Promise<void> {
    const r = this.running;
    if (r === undefined) return;
    const id = this.config.deviceId;
    await r.session
      .publish(
        presenceTopic(id),
        encodeMessage('presence', {
          v: 1,
          type: 'presence',
          deviceId: id,
          online: true,
          at: this.iso(),
        }),
      )
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'presence not published');
      });
    await this.publishState();
    void r.outbox.flush();
    r.telemetry.onConnected();
    this.emitSafe('connected');
  }

  private onInbound(inbound: Inbound): void {
    const r = this.running;
    if (r === undefined) return;
    switch (inbound.kind) {
      case 'desired':
        void r.reconciler.accept(inbound.message);
        return;
      case 'trust_root':
        void r.reconciler.applyTrustRoot(inbound.message).then(
          (rotated) => {
            if (!rotated.ok) {
              this.logger.warn({ code: rotated.code, err: rotated.message }, 'trust root refused');
              return;
            }
            if (rotated.value.to === rotated.value.from) return;
            this.emitSafe('trust_root', rotated.value);
            void this.publishState();
          },
          (error: unknown) => {
            this.logger.error({ err: error }, 'applying the trust root failed');
          },
        );
        return;
      case 'cmd':
        this.onCommand(r, inbound.message);
        return;
    }
  }

  private onCommand(r: Running, command: CommandMessage): void {
    this.logger.info({ command: command.command, id: command.id }, 'command received');
    this.emitSafe('command', command);
    switch (command.command) {
      case 'flush_telemetry':
        void r.telemetry.flush();
        return;
      case 'publish_state':
        void this.publishState();
        return;
      case 'capture_samples':
        this.logger.warn({ id: command.id }, 'capture_samples is not supported by this agent yet');
        return;
    }
  }

  private onModelChange(phase: 'before' | 'after'): void {
    const r = this.running;
    if (r === undefined) return;
    if (phase === 'before') {
      void r.telemetry.flush();
      return;
    }
    r.telemetry.rebind();
    void this.publishState();
    this.emitSafe('model_changed', { releaseId: r.models.active?.releaseId ?? null });
  }

  private reportStatus(status: StatusReport): void {
    const r = this.running;
    this.agentMetrics.deploymentReports.inc({
      state: status.state,
      ...(status.reason !== undefined ? { reason: status.reason } : {}),
    });
    this.emitSafe('deployment', {
      releaseId: status.releaseId,
      directiveCounter: status.directiveCounter,
      state: status.state,
      ...(status.reason !== undefined ? { reason: status.reason } : {}),
      ...(status.detail !== undefined ? { detail: status.detail } : {}),
    });
    if (r === undefined) return;
    this.sendEncoded(r, statusTopic(this.config.deviceId), 'status', {
      v: 1,
      type: 'status',
      deviceId: this.config.deviceId,
      ...status,
      at: this.iso(),
    });
  }

  private sendEncoded<T extends 'status' | 'state'>(
    r: Running,
    topic: string,
    type: T,
    message: Parameters<typeof encodeMessage<T>>[1],
    replace = false,
  ): void {
    let payload: Uint8Array;
    try {
      payload = encodeMessage(type, message);
    } catch (error) {
      this.logger.error({ err: error, type }, 'report not encodable; dropped');
      return;
    }
    r.outbox.send(topic, payload, { replace });
  }

  private async stateMessage(r: Running): Promise<StateMessage> {
    const active = r.models.active;
    const slotState = r.slots.state;
    const view = r.reconciler.view().current;
    let previous: ReleaseDocument | undefined = r.models.previous?.release;
    if (
      previous === undefined &&
      slotState.previousRelease !== null &&
      slotState.activeSlot !== null
    ) {
      previous = await readSlotRelease(r.slots, slotState.activeSlot === 'a' ? 'b' : 'a');
    }
    return {
      v: 1,
      type: 'state',
      deviceId: this.config.deviceId,
      agentVersion: AGENT_VERSION,
      hardwareClass: this.config.hardwareClass,
      release: active === undefined ? null : releaseRef(active.release),
      previousRelease: previous === undefined ? null : releaseRef(previous),
      slot: slotState.activeSlot,
      runtime: {
        ortVersion: r.facts.ortVersion,
        executionProvider: active?.loaded.executionProvider ?? null,
        availableProviders: [...r.facts.availableProviders],
      },
      labels: { ...this.config.labels },
      rootVersion: r.trust.state.rootVersion,
      directiveCounter: r.trust.state.directiveCounter,
      deployment:
        view === null
          ? null
          : {
              releaseId: view.releaseId,
              state: view.state,
              directiveCounter: view.directiveCounter,
            },
      at: this.iso(),
    };
  }

  private emitSafe<K extends keyof AgentEvents>(event: K, ...args: AgentEvents[K]): void {
    try {
      // The emitter's conditional argument types do not narrow through a generic K.
      (this.emit as (e: K, ...a: AgentEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.logger.error({ err: error, event }, 'an agent event listener threw');
    }
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

function runModel(
  loaded: LoadedModel,
  feeds: Readonly<Record<string, TensorData>>,
  options: RunOptions,
): Promise<Record<string, TensorData>> {
  return loaded.run(feeds, options);
}

function releaseRef(release: ReleaseDocument): ReleaseRef {
  return {
    releaseId: release.releaseId,
    model: release.model.name,
    version: release.model.version,
    releaseCounter: release.releaseCounter,
  };
}

async function readSlotRelease(
  slots: SlotStore,
  slot: 'a' | 'b',
): Promise<ReleaseDocument | undefined> {
  try {
    const bytes = await readFile(slots.releaseDocumentPath(slot));
    const opened = openEnvelope(bytes, 'release');
    return opened.ok ? opened.value.signed : undefined;
  } catch {
    return undefined;
  }
}
