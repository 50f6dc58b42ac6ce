/** The agent's structured logs: pino JSON lines on stdout (journald keeps them), secrets redacted. */
import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createAgentLogger(level: LogLevel): Logger {
  return pino({
    name: 'edgefleet-agent',
    level,
    redact: {
      paths: [
        'deviceToken',
        '*.deviceToken',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
      ],
      censor: '[redacted]',
    },
  });
}
