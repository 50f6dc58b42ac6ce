import { describe, expect, it } from 'vitest';
import { Outbox } from './outbox.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('Outbox', () => {
  it('holds messages while offline and sends them in order once connected, each after the previous PUBACK', async () => {
    let connected = false;
    const sent: string[] = [];
    let failNext = false;
    const outbox = new Outbox({
      isConnected: () => connected,
      publish: (_topic, payload) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('closed'));
        }
        sent.push(text(payload));
        return Promise.resolve();
      },
    });
    outbox.send('t', bytes('1'));
    outbox.send('t', bytes('2'));
    expect(outbox.size).toBe(2);
    connected = true;
    failNext = true;
    await outbox.flush(); // the first publish fails: kept for the next flush
    expect(sent).toEqual([]);
    outbox.send('t', bytes('3'));
    await outbox.flush();
    expect(sent).toEqual(['1', '2', '3']);
    expect(outbox.size).toBe(0);
  });

  it('keeps only the newest snapshot of a replaced topic and drops the oldest past its bound', async () => {
    const sent: string[] = [];
    const dropped: string[] = [];
    let connected = false;
    const outbox = new Outbox({
      isConnected: () => connected,
      publish: (topic, payload) => {
        sent.push(`${topic}:${text(payload)}`);
        return Promise.resolve();
      },
      maxMessages: 3,
      onDrop: (m) => dropped.push(text(m.payload)),
    });
    outbox.send('state', bytes('s1'), { replace: true });
    outbox.send('status', bytes('a'));
    outbox.send('state', bytes('s2'), { replace: true });
    outbox.send('status', bytes('b'));
    outbox.send('status', bytes('c'));
    expect(dropped).toEqual(['a']);
    connected = true;
    await outbox.flush();
    expect(sent).toEqual(['state:s2', 'status:b', 'status:c']);
  });
});
