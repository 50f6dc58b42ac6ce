/** Structured logs (pino JSON). Secrets are redacted by path wherever they may appear. */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'edgefleet',
    level: options.level ?? 'info',
    redact: {
      paths: [
        'token',
        '*.token',
        'password',
        '*.password',
        'secretKey',
        '*.secretKey',
        'authorization',
        '*.authorization',
        'headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
}
