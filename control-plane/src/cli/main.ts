#!/usr/bin/env node
/**
 * `edgefleet`: the operator CLI. Talks to the control plane's HTTP API (server URL and token from flags,
 * EDGEFLEET_SERVER / EDGEFLEET_TOKEN, or the file `edgefleet login` writes); `--json` everywhere.
 */
import { CliError } from './api-client.js';
import { apiFor, type CliContext } from './context.js';
import {
  auditCommand,
  devicesCommand,
  enrollmentTokensCommand,
  loginCommand,
  tokensCommand,
} from './fleet-commands.js';
import { createOutput } from './output.js';
import { modelsCommand, releasesCommand } from './registry-commands.js';
import { rolloutsCommand } from './rollout-commands.js';
import { brokerCommand, serverCommand } from './server-command.js';
import { keysCommand, trustCommand } from './trust-commands.js';
import { EdgefleetError } from '@edgefleet/protocol';

const BOOLEAN_FLAGS = new Set(['json', 'help', 'no-health-check', 'watch', 'draft', 'sha256']);
const REPEATABLE = new Set(['key', 'label']);

export const USAGE = `edgefleet — deploy ONNX models to edge fleets

  edgefleet server [--data-dir D] [--host H] [--http-port N] [--mqtt-host H] [--mqtt-port N] [--database-url U] [--mqtt-url U]
                   [--device-mqtt-url U] [--public-url U] [--max-upload-mb N] [--shared-subscription-group G] [--leader-poll-ms N]
                   [--device-window-retention-days 7] [--aggregate-retention-days 90] [--drift-retention-days 90] [--log-level L]
  edgefleet login --server URL --token T
  edgefleet models push NAME FILE [--reference data.csv] [--version V] [--metadata JSON] [--feature-spec FILE]
  edgefleet models list | versions NAME
  edgefleet releases create --model M --version V [--hw a,b] [--eps a,b] [--expires 90d] [--no-health-check]
  edgefleet releases list [--model M]
  edgefleet rollouts create --release R [--selector 'site=berlin'] [--waves 1%,10%,50%,100%] [--spread-by hardwareClass,site] [--soak 10m] [--min-inferences N]
      [--min-success 0.95] [--rate 60] [--budget 50] [--timeout 30m] [--on-failure pause|abort] [--approval first|between|both]
      [--baseline RELEASE] [--draft]
  edgefleet rollouts list [--state S] | status ID [--watch [--interval MS]] | start|approve|pause|resume|cancel|abort|promote|retry ID
  edgefleet devices list [--selector 'site=berlin,hw in (jetson,rpi5)'] [--status S] | label ID k=v... | decommission ID
  edgefleet tokens create --name N --role viewer|deployer|admin [--expires 90d] | list | revoke ID
  edgefleet enrollment-tokens create [--label k=v]... [--max-uses N] [--expires 24h] | list
  edgefleet audit
  edgefleet keys init --threshold M --keys N --out DIR
  edgefleet keys sign-root (--current root.json --root-keys pub.json [--threshold M] [--expires 365d] | --draft root.json) --key K... [--out F]
  edgefleet trust root [--sha256] | push FILE | rotate --role release|deploy [--out draft.json (offline root)]
  edgefleet broker mosquitto-config --out DIR [--device-port 8883] [--control-plane-port 1884]

Global: --server URL, --token T, --json`;

export function parseArgv(argv: readonly string[]): {
  positionals: string[];
  flags: CliContext['flags'];
} {
  const positionals: string[] = [];
  const flags: Record<string, string | boolean | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    let value: string | boolean;
    if (eq > 0) value = a.slice(eq + 1);
    else if (BOOLEAN_FLAGS.has(name)) value = true;
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--'))
        throw new CliError(`--${name} needs a value`, 'EF_USAGE');
      value = next;
      i++;
    }
    if (REPEATABLE.has(name) && typeof value === 'string') {
      const prev = flags[name];
      flags[name] = Array.isArray(prev) ? [...prev, value] : [value];
    } else {
      flags[name] = value;
    }
  }
  return { positionals, flags };
}

export async function run(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { positionals, flags } = parseArgv(argv);
    json = flags.json === true;
    const [command, sub, ...rest] = positionals;
    const ctx = (args: string[]): CliContext => ({
      args,
      flags,
      out: createOutput(json),
      env,
      api: () => apiFor(flags, env),
    });
    switch (command) {
      case undefined:
      case 'help':
        process.stdout.write(USAGE + '\n');
        return 0;
      case 'server':
        await serverCommand(ctx([sub, ...rest].filter((x): x is string => x !== undefined)));
        return 0;
      case 'login':
        await loginCommand(ctx([]));
        return 0;
      case 'models':
        await modelsCommand(ctx(rest), sub);
        return 0;
      case 'releases':
        await releasesCommand(ctx(rest), sub);
        return 0;
      case 'rollouts':
        return await rolloutsCommand(ctx(rest), sub);
      case 'devices':
        await devicesCommand(ctx(rest), sub);
        return 0;
      case 'tokens':
        await tokensCommand(ctx(rest), sub);
        return 0;
      case 'enrollment-tokens':
        await enrollmentTokensCommand(ctx(rest), sub);
        return 0;
      case 'audit':
        await auditCommand(ctx(rest));
        return 0;
      case 'keys':
        await keysCommand(ctx(rest), sub);
        return 0;
      case 'trust':
        await trustCommand(ctx(rest), sub);
        return 0;
      case 'broker':
        await brokerCommand(ctx(rest), sub);
        return 0;
      default:
        throw new CliError(
          `unknown command ${JSON.stringify(command)}`,
          'EF_USAGE',
          'run `edgefleet help`',
        );
    }
  } catch (e) {
    const err =
      e instanceof CliError
        ? e
        : e instanceof EdgefleetError
          ? new CliError(e.message, e.code)
          : new CliError((e as Error).message, 'EF_INTERNAL');
    if (json) {
      process.stdout.write(
        JSON.stringify({ error: { code: err.code, message: err.message, details: err.details } }) +
          '\n',
      );
    } else {
      process.stderr.write(`error ${err.code}: ${err.message}\n`);
      if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
      if (err.code === 'EF_USAGE') process.stderr.write(`\n${USAGE}\n`);
    }
    return err.code === 'EF_USAGE' ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/edgefleet')) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
