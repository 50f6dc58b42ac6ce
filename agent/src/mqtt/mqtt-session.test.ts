import type { IClientOptions } from 'mqtt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { MqttSession } from './mqtt-session.js';

describe('MqttSession', () => {
  it('reconnects with jittered exponential back-off on its clock, capped, and connects as the device', async () => {
    const clock = new ManualClock(0);
    const attempts: IClientOptions[] = [];
    const delays: number[] = [];
    let scheduled: () => void = () => undefined;
    const session = new MqttSession({
      url: 'mqtt://127.0.0.1:1',
      deviceId: 'dev-7',
      token: 'tok',
      keepaliveSec: 30,
      clock,
      random: () => 0.5,
      logger: pino({ level: 'silent' }),
      connect: (_url, options) => {
        attempts.push(options);
        return Promise.reject(new Error('connection refused'));
      },
      presence: (online) => new TextEncoder().encode(JSON.stringify({ online })),
      onConnected: () => Promise.resolve(),
      onDisconnected: () => undefined,
      onMessage: () => undefined,
      onMalformed: () => undefined,
      onReconnectScheduled: (_attempt, delayMs) => {
        delays.push(delayMs);
        scheduled();
      },
    });
    const nextSchedule = () =>
      new Promise<void>((resolve) => {
        scheduled = resolve;
      });
    let waiting = nextSchedule();
    session.start();
    for (let i = 0; i < 9; i++) {
      await waiting;
      waiting = nextSchedule();
      clock.advance(delays.at(-1)!);
    }
    await waiting;
    // Equal jitter with random 0.5: 3/4 of min(60 s, 1 s * 2^n).
    expect(delays).toEqual([750, 1500, 3000, 6000, 12_000, 24_000, 45_000, 45_000, 45_000, 45_000]);
    expect(attempts[0]).toMatchObject({
      clientId: 'dev-7',
      username: 'dev-7',
      password: 'tok',
      protocolVersion: 4,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 0,
      will: { topic: 'edgefleet/v1/d/dev-7/presence', qos: 1, retain: false },
    });
    expect(JSON.parse(String(attempts[0]?.will?.payload))).toEqual({ online: false });
    await session.stop();
    expect(clock.pending).toBe(0);
  });
});
