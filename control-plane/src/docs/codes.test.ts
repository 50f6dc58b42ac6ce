import { DEPLOYMENT_REASONS, ERROR_CODES } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  DEVICE_DEPLOYMENT_STATES,
  ROLLOUT_STATES,
  WAVE_STATES,
  WEBHOOK_DELIVERY_STATUSES,
} from '../db/schema.js';
import { ABORT_METRICS } from '../rollouts/spec.js';
import { documentedCodes, renderCodesMarkdown } from './codes.js';

/** The first cell of every table row in the rendered reference. */
function rowKeys(markdown: string): Set<string> {
  const keys = new Set<string>();
  for (const line of markdown.split('\n')) {
    const m = /^\| `([^`]+)` \|/.exec(line);
    if (m) keys.add(m[1]!);
  }
  return keys;
}

describe('the codes reference (docs/reference/codes.md)', () => {
  const markdown = renderCodesMarkdown();
  const rows = rowKeys(markdown);

  it('has a row for every error code and every deployment reason', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(rows, code).toContain(code);
    for (const reason of DEPLOYMENT_REASONS) expect(rows, reason).toContain(reason);
  });

  it('has a row for every state, gate metric and delivery status', () => {
    for (const state of DEVICE_DEPLOYMENT_STATES) expect(rows, state).toContain(state);
    for (const state of [...ROLLOUT_STATES, ...WAVE_STATES]) expect(rows, state).toContain(state);
    for (const metric of ABORT_METRICS) expect(rows, metric).toContain(metric);
    for (const status of WEBHOOK_DELIVERY_STATUSES) expect(rows, status).toContain(status);
    for (const code of documentedCodes()) expect(rows, code).toContain(code);
  });

  it('gives every row a meaning and a thing to do', () => {
    for (const line of markdown.split('\n').filter((l) => l.startsWith('| `'))) {
      const cells = line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
      expect(
        cells.every((c) => c.length > 0),
        line,
      ).toBe(true);
    }
  });
});
