/** `edgefleet server` and `edgefleet broker mosquitto-config`. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeMosquittoConfig } from '../broker/mosquitto-config.js';
import { hashToken } from '../broker/password.js';
import { loadServerConfig } from '../config.js';
import { openDatabase } from '../db/open.js';
import { listMosquittoDevices } from '../server/mosquitto-devices.js';
import { startServer } from '../server/server.js';
import { CliError } from './api-client.js';
import { required, str, type CliContext } from './context.js';

function serverFlags(ctx: CliContext) {
  return {
    dataDir: str(ctx.flags['data-dir']),
    httpHost: str(ctx.flags.host),
    httpPort: str(ctx.flags['http-port']),
    mqttHost: str(ctx.flags['mqtt-host']),
    mqttPort: str(ctx.flags['mqtt-port']),
    databaseUrl: str(ctx.flags['database-url']),
    mqttUrl: str(ctx.flags['mqtt-url']),
    publicUrl: str(ctx.flags['public-url']),
    deviceMqttUrl: str(ctx.flags['device-mqtt-url']),
    sharedSubscriptionGroup: str(ctx.flags['shared-subscription-group']),
    leaderPollMs: str(ctx.flags['leader-poll-ms']),
    deviceWindowRetentionDays: str(ctx.flags['device-window-retention-days']),
    aggregateRetentionDays: str(ctx.flags['aggregate-retention-days']),
    driftRetentionDays: str(ctx.flags['drift-retention-days']),
    logLevel: str(ctx.flags['log-level']),
    maxUploadBytes:
      str(ctx.flags['max-upload-mb']) === undefined
        ? undefined
        : Number(str(ctx.flags['max-upload-mb'])) * 1024 * 1024,
  };
}

export async function serverCommand(ctx: CliContext): Promise<void> {
  const config = loadServerConfig(serverFlags(ctx), ctx.env);
  const server = await startServer(config);
  if (server.adminToken) {
    process.stderr.write(
      `\nBootstrap admin token (shown once, also in ${server.adminTokenFile}):\n  ${server.adminToken}\n` +
        `Use it:  export EDGEFLEET_SERVER=${server.httpUrl} EDGEFLEET_TOKEN=<token>\n\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      server.services.logger.info({ signal }, 'stopping');
      server.close().then(resolve, (err: unknown) => {
        server.services.logger.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export async function brokerCommand(ctx: CliContext, sub: string | undefined): Promise<void> {
  if (sub !== 'mosquitto-config') {
    throw new CliError(
      `unknown command: broker ${sub ?? ''}`.trim(),
      'EF_USAGE',
      'try: broker mosquitto-config --out DIR',
    );
  }
  const out = required(ctx, 'out');
  const config = loadServerConfig(serverFlags(ctx), ctx.env);
  const opened = await openDatabase(
    config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir },
  );
  try {
    await opened.migrate();
    const devices = await listMosquittoDevices(opened.db);
    const password = config.mqttPassword ?? randomBytes(24).toString('base64url');
    const files = await writeMosquittoConfig({
      outDir: out,
      devices,
      controlPlane: {
        username: config.mqttUsername ?? 'edgefleet-control-plane',
        passwordHash: await hashToken(password),
      },
      deviceListener: { port: Number(str(ctx.flags['device-port']) ?? 8883) },
      controlPlaneListener: {
        port: Number(str(ctx.flags['control-plane-port']) ?? 1884),
        host: '127.0.0.1',
      },
    });
    ctx.out.result({ files, devices: devices.length }, () => {
      ctx.out.line(`wrote the Mosquitto config for ${devices.length} devices to ${out}:`);
      for (const f of Object.values(files)) ctx.out.line(`  ${f}`);
      if (!config.mqttPassword) {
        ctx.out.line(
          `control plane MQTT password (generated; pass it as MQTT_PASSWORD): ${password}`,
        );
      }
      ctx.out.line(
        `the password and ACL files are 0600: Mosquitto started as root reads them as its own user, so first: sudo chown mosquitto: ${join(out, '*')}`,
      );
      ctx.out.line(
        `run: mosquitto -c ${join(out, 'mosquitto.conf')}; start the server with MQTT_URL=mqtt://127.0.0.1:${str(ctx.flags['control-plane-port']) ?? 1884}`,
      );
    });
  } finally {
    await opened.close();
  }
}
