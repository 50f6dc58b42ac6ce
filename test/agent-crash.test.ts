/**
 * Crash consistency (ARCHITECTURE §5 step 5: "crash at any point leaves a verified model active"),
 * with real crashes: `edgefleet-agent run` as a child process, SIGKILLed during installs of a
 * sequence of releases r1, r2, ... (each a new rollout from an in-process `edgefleet server`), then
 * started again on the same state directory.
 *
 * Where each kill lands is chosen from a seeded plan: at a byte offset of the model download (an
 * HTTP proxy in front of the control plane's artifact route kills the agent after forwarding exactly
 * that many bytes), the moment the agent logs that it reached a deployment state (assigned,
 * verifying, staged, activating; the log line is written right after the state is journaled and
 * reported), right after the switch (its `serving model changed` line), or while soaking after a
 * seeded number of the soak's inferences. The state actually hit is read back from the journal
 * after the kill. The plan runs for a time budget (at least 8 kills and every stage hit, at most 20)
 * so the file stays well under a minute on a loaded machine; the summary is printed.
 *
 * After every kill, before the restart: state.json, the slot markers, the trust state and the
 * journal parse; the active slot (and the kept previous one) holds exactly the files of a release
 * the control plane signed, with their signed sha256 and length (or no model at all, before the
 * first install ever succeeded); the directive counter never went backwards. After the restart, the
 * deployment converges: the device reports `succeeded` and serves the release (a deployment the
 * agent rolled back because it was killed mid-switch is rolled out again by the operator, as a
 * real operator would).
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import {
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { join } from 'node:path';
import {
  createRandom,
  imageClassifier,
  nextInt,
  releaseSha256,
  TrustStateSchema,
  verifyRelease,
  type TrustState,
} from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalSchema, type JournalContent } from '../agent/src/reconcile/deployment-journal.js';
import {
  CompleteMarkerSchema,
  SlotStateSchema,
  slotStorePaths,
  type SlotState,
} from '../agent/src/store/slots.js';
import {
  AgentProcess,
  ControlPlane,
  enrollWithCli,
  inferJson,
  tempDir,
  WAIT_MS,
  type EnrolledDevice,
  type LogLine,
} from './agent-cli.test-support.js';

const SEED = 20261126;
const SOAK_INFERENCES = 5;
const SELECTOR = 'role=crash';
/** Image model: [1, 1, 2, 512] -> [1, classes]; ~1 MiB of weights, so each step takes a while. */
const HEIGHT = 2;
const WIDTH = 512;

type StageTarget = 'assigned' | 'verifying' | 'staged' | 'activating' | 'soaking';
type KillTarget =
  | { readonly kind: 'bytes' }
  | { readonly kind: 'state'; readonly state: StageTarget }
  /** Right after the switch (the serving model changed), before `soaking` is journaled. */
  | { readonly kind: 'switched' };

/** Journal states at kill that must each be hit (one of each group) before the budget may end it. */
const REQUIRED: readonly (readonly string[])[] = [
  ['downloading'],
  ['verifying'],
  ['staged'],
  ['activating (not switched)', 'activating (switched)'],
  ['soaking'],
];

/**
 * At least MIN_KILLS kills and every REQUIRED stage hit, whatever the time; then more while within
 * BUDGET_MS; at most MAX_KILLS.
 */
const MIN_KILLS = 8;
const MAX_KILLS = 20;
const BUDGET_MS = 30_000;

const TARGETS: readonly KillTarget[] = [
  { kind: 'bytes' },
  { kind: 'state', state: 'assigned' },
  { kind: 'state', state: 'verifying' },
  { kind: 'state', state: 'staged' },
  { kind: 'state', state: 'activating' },
  { kind: 'switched' },
  { kind: 'state', state: 'soaking' },
];

/**
 * The kills: the first during the very first download (no model yet), then every target once in a
 * seeded order (so the first MIN_KILLS cover every stage), then seeded draws.
 */
function killPlan(random: ReturnType<typeof createRandom>): KillTarget[] {
  const once = TARGETS.slice(1).concat([{ kind: 'bytes' }]);
  for (let i = once.length - 1; i > 0; i--) {
    const j = nextInt(random, i + 1);
    [once[i], once[j]] = [once[j]!, once[i]!];
  }
  const plan: KillTarget[] = [{ kind: 'bytes' }, ...once];
  while (plan.length < MAX_KILLS) plan.push(TARGETS[nextInt(random, TARGETS.length)]!);
  return plan;
}

// ---------------------------------------------------------------- the artifact proxy

/**
 * An HTTP proxy in front of the control plane (its `publicUrl`, so agents download through it) that
 * can run `fire` once it has forwarded exactly `offset` bytes of one artifact, then cut the response.
 */
class ArtifactProxy {
  target = '';
  private trigger: { sha256: string; offset: number; fire: () => void } | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<ArtifactProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => {
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const proxy = new ArtifactProxy(server, `http://127.0.0.1:${port}`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      proxy.forward(req, res);
    });
    return proxy;
  }

  armKill(sha256: string, offset: number, fire: () => void): void {
    this.trigger = { sha256, offset, fire };
  }

  disarm(): void {
    this.trigger = undefined;
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = request(
      new URL(req.url ?? '/', this.target),
      { method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        const trigger = this.trigger;
        const armed =
          trigger !== undefined && req.method === 'GET' && (req.url ?? '').includes(trigger.sha256);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (armed && this.trigger === trigger && sent + chunk.length >= trigger.offset) {
            this.trigger = undefined;
            res.write(chunk.subarray(0, trigger.offset - sent));
            trigger.fire();
            up.destroy();
            res.destroy();
            return;
          }
          sent += chunk.length;
          res.write(chunk);
        });
        up.on('end', () => res.end());
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
      this.server.closeAllConnections();
    });
  }
}

// ---------------------------------------------------------------- the checks after a kill

interface SignedRelease {
  readonly releaseId: string;
  /** sha256 of the signed release document (what the agent keeps beside the slot's files). */
  readonly sha256: string;
}

interface Snapshot {
  readonly slots: SlotState | undefined;
  readonly trust: TrustState;
  readonly journal: JournalContent | undefined;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Every state file parses; the installed slots hold exactly what the control plane signed. */
async function checkStateDir(
  stateDir: string,
  signed: ReadonlyMap<string, SignedRelease>,
): Promise<Snapshot> {
  const models = slotStorePaths(join(stateDir, 'models'));
  const rawSlots = await readJson(models.state);
  const slots = rawSlots === undefined ? undefined : SlotStateSchema.parse(rawSlots);
  const trust = TrustStateSchema.parse(await readJson(join(stateDir, 'trust-state.json')));
  const rawJournal = await readJson(join(stateDir, 'deployment.json'));
  const journal = rawJournal === undefined ? undefined : JournalSchema.parse(rawJournal);

  const installed: [slot: 'a' | 'b', releaseId: string][] = [];
  if (slots?.activeSlot != null) installed.push([slots.activeSlot, slots.activeRelease!]);
  if (slots?.activeSlot != null && slots.previousRelease !== null) {
    installed.push([slots.activeSlot === 'a' ? 'b' : 'a', slots.previousRelease]);
  }
  for (const [slot, releaseId] of installed) {
    const paths = models.slot(slot);
    const marker = CompleteMarkerSchema.parse(await readJson(paths.marker));
    expect(marker.releaseId, `slot ${slot} marker`).toBe(releaseId);
    const releaseBytes = new Uint8Array(await readFile(paths.release));
    const verified = verifyRelease(trust, releaseBytes, Date.now(), { localRevert: true });
    if (!verified.ok) throw new Error(`slot ${slot}: ${verified.message}`);
    expect(verified.value.release.releaseId).toBe(releaseId);
    expect(releaseSha256(verified.value.envelope)).toBe(signed.get(releaseId)?.sha256);
    const files = verified.value.release.files;
    expect(marker.files).toEqual(files);
    for (const [name, expected] of Object.entries(files)) {
      const bytes = new Uint8Array(await readFile(join(paths.files, name)));
      expect({ name, length: bytes.length, sha256: sha256(bytes) }).toEqual({
        name,
        length: expected.length,
        sha256: expected.sha256,
      });
    }
  }
  return { slots, trust, journal };
}

/** The deployment state the journal held for `releaseId` when the agent died. */
function stateAtKill(snapshot: Snapshot, releaseId: string): string {
  const { journal, slots } = snapshot;
  const rec =
    journal?.current?.releaseId === releaseId
      ? journal.current
      : journal?.queued?.releaseId === releaseId
        ? journal.queued
        : undefined;
  if (rec === undefined) return 'not accepted';
  if (rec.state !== 'activating') return rec.state;
  return slots?.activeRelease === releaseId ? 'activating (switched)' : 'activating (not switched)';
}

// ---------------------------------------------------------------- the test

let dir: string;
let cp: ControlPlane;
let proxy: ArtifactProxy;

beforeAll(async () => {
  dir = await tempDir('ef-agent-crash-');
  proxy = await ArtifactProxy.start();
  cp = await ControlPlane.start(join(dir, 'cp'), { publicUrl: proxy.url });
  proxy.target = cp.url;
}, 60_000);

afterAll(async () => {
  await AgentProcess.killAll();
  await cp.close();
  await proxy.close();
  await rm(dir, { recursive: true, force: true });
});

describe('agent crash consistency', () => {
  it('leaves a verified model active and converges after SIGKILLs at seeded points of installs', async () => {
    const random = createRandom(SEED);
    const plan = killPlan(random);
    const device: EnrolledDevice = await enrollWithCli(cp, dir, {
      deviceId: 'crash-1',
      labels: { role: 'crash' },
    });
    const signed = new Map<string, SignedRelease>();
    const input = {
      input: {
        type: 'float32',
        dims: [1, 1, HEIGHT, WIDTH],
        data: Array.from({ length: HEIGHT * WIDTH }, (_, i) => ((i * 37) % 101) / 100),
      },
    };
    const hits = new Map<string, number>();
    const log: string[] = [];
    let redeployed = 0;
    let succeededOnce = false;
    let counterFloor = 0;
    let agent = AgentProcess.start(device.configPath, ['--runtime', 'in-process']);
    await agent.running();

    const start = () => {
      agent = AgentProcess.start(device.configPath, ['--runtime', 'in-process']);
      return agent.running();
    };

    /** Serve the soak's inferences whenever a soak of `releaseId` runs, until it ends. */
    async function converge(
      releaseId: string,
      soakingNow: boolean,
      fromStatus: number,
    ): Promise<void> {
      const isDeployment = (l: LogLine, states: readonly string[]) =>
        l.msg === 'deployment status' &&
        l.releaseId === releaseId &&
        states.includes(String(l.state));
      const DONE = ['succeeded', 'failed', 'rolled_back'];
      let fromLine = 0; // this process's lines, from its start
      for (let attempt = 0; attempt < 3; attempt++) {
        let end: LogLine | undefined;
        if (!soakingNow) {
          const line = await agent.waitForLog(
            (l) => isDeployment(l, ['soaking', ...DONE]),
            `${releaseId} soaking or done`,
            WAIT_MS,
            fromLine,
          );
          fromLine = agent.lines.indexOf(line) + 1;
          if (line.state !== 'soaking') end = line;
        }
        if (end === undefined) {
          const url = await agent.localApiUrl();
          for (let i = 0; i < SOAK_INFERENCES; i++) {
            const r = await inferJson(url, input);
            expect(r.status, JSON.stringify(r.body)).toBe(200);
            expect(r.body.releaseId).toBe(releaseId);
          }
          end = await agent.waitForLog(
            (l) => isDeployment(l, DONE),
            `${releaseId} done`,
            WAIT_MS,
            fromLine,
          );
        }
        await cp.waitForStatus(
          (e) =>
            e.deviceId === device.deviceId && e.releaseId === releaseId && e.state === end.state,
          `${releaseId} ${String(end.state)} on the control plane`,
          WAIT_MS,
          end.state === 'succeeded' ? 0 : fromStatus,
        );
        if (end.state === 'succeeded') return;
        // Killed mid-switch, the agent rolled the release back; the operator rolls it out again.
        fromLine = agent.lines.length;
        log.push(
          `  ${releaseId} ended ${String(end.state)}(${String(end.reason)}): rolled out again`,
        );
        redeployed++;
        soakingNow = false;
        fromStatus = cp.statuses.length;
        await cp.rollout(releaseId, SELECTOR, SOAK_INFERENCES);
      }
      throw new Error(`${releaseId} did not converge`);
    }

    const began = performance.now();
    let kills = 0;
    for (const [i, target] of plan.entries()) {
      const covered = REQUIRED.every((states) => states.some((state) => hits.has(state)));
      if (kills >= MIN_KILLS && covered && performance.now() - began > BUDGET_MS) break;
      kills++;
      const t0 = performance.now();
      const version = `1.0.${i + 1}`;
      const model = imageClassifier({ height: HEIGHT, width: WIDTH, classes: 500 + i });
      await cp.pushModel('vision', version, model);
      const release = await cp.api<SignedRelease>('POST', '/v1/releases', {
        model: 'vision',
        version,
      });
      signed.set(release.releaseId, release);
      const releaseId = release.releaseId;

      let aim: string;
      if (target.kind === 'bytes') {
        const offset = nextInt(random, model.length);
        aim = `byte ${offset} of ${model.length}`;
        const victim = agent;
        proxy.armKill(sha256(model), offset, () => victim.child.kill('SIGKILL'));
      } else if (target.kind === 'switched') {
        aim = 'activating, right after the switch';
        agent.killWhen((l) => l.msg === 'serving model changed' && l.releaseId === releaseId);
      } else if (target.state !== 'soaking') {
        aim = target.state;
        agent.killWhen(
          (l) =>
            l.msg === 'deployment status' && l.releaseId === releaseId && l.state === target.state,
        );
      } else {
        aim = 'soaking';
      }
      await cp.rollout(releaseId, SELECTOR, SOAK_INFERENCES);
      if (target.kind === 'state' && target.state === 'soaking') {
        // Part of the soak is served before the kill; the soak starts over after the restart.
        const served = nextInt(random, SOAK_INFERENCES);
        await agent.waitForLog(
          (l) =>
            l.msg === 'deployment status' && l.releaseId === releaseId && l.state === 'soaking',
          `${releaseId} soaking`,
        );
        const url = await agent.localApiUrl();
        for (let n = 0; n < served; n++) expect((await inferJson(url, input)).status).toBe(200);
        agent.child.kill('SIGKILL');
        aim = `soaking after ${served} of ${SOAK_INFERENCES} inferences`;
      }
      const exit = await withTimeout(agent.exited, `the kill at ${aim}`);
      expect(exit.signal).toBe('SIGKILL');
      proxy.disarm();

      const snapshot = await checkStateDir(device.stateDir, signed);
      if (!succeededOnce) expect(snapshot.slots?.activeSlot ?? null).toBeNull();
      else expect(snapshot.slots?.activeRelease).toBeTruthy();
      expect(snapshot.trust.directiveCounter).toBeGreaterThanOrEqual(counterFloor);
      counterFloor = snapshot.trust.directiveCounter;
      const hit = stateAtKill(snapshot, releaseId);
      hits.set(hit, (hits.get(hit) ?? 0) + 1);
      log.push(
        `run ${i + 1} ${releaseId}: aimed at ${aim}, journal said ${hit} (${Math.round(performance.now() - t0)} ms to the kill)`,
      );

      const fromStatus = cp.statuses.length;
      const running = await start();
      expect(running.activeRelease ?? null).toBe(snapshot.slots?.activeRelease ?? null);
      // A soak that was running starts over at once (silently); a switched one reports soaking first.
      const soakingNow = hit === 'soaking';
      await converge(releaseId, soakingNow, fromStatus);
      succeededOnce = true;

      const served = await inferJson(await agent.localApiUrl(), input);
      expect(served.body.releaseId).toBe(releaseId);
      const after = await checkStateDir(device.stateDir, signed);
      expect(after.slots?.activeRelease).toBe(releaseId);
      expect(after.trust.directiveCounter).toBeGreaterThanOrEqual(counterFloor);
      counterFloor = after.trust.directiveCounter;
      log.push(`  converged in ${Math.round(performance.now() - t0)} ms`);
      if (process.env.EF_CRASH_TRACE) console.log(log.slice(-3).join('\n'));
    }

    const exit = await agent.kill('SIGTERM');
    expect(exit.code).toBe(0);
    console.log(
      [
        `crash test (seed ${SEED}): ${kills} kills in ${Math.round(performance.now() - began)} ms, ${redeployed} rolled out again`,
        ...log,
        'journal state at kill:',
        ...[...hits].map(([state, n]) => `  ${state}: ${n}`),
      ].join('\n'),
    );
    // Kills aimed at a short step (staged, the switch) sometimes land in the next one; wherever
    // they land the checks above held. Each stage was hit at least once.
    for (const states of REQUIRED) {
      expect(
        states.reduce((n, state) => n + (hits.get(state) ?? 0), 0),
        `kills while ${states.join(' or ')}`,
      ).toBeGreaterThan(0);
    }
  }, 240_000);
});

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => {
      clearTimeout(timer);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}`));
      }, WAIT_MS);
    }),
  ]);
}
