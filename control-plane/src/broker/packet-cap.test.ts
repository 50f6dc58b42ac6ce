import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CappedConnection,
  PacketSizeScanner,
  clampPacketCap,
  type PacketScan,
} from './packet-cap.js';

/** MQTT remaining-length encoding (MQTT 3.1.1 §2.2.3). */
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A PUBLISH-typed packet with a body of `bodyBytes` bytes. */
const packet = (bodyBytes: number): Buffer =>
  Buffer.concat([Buffer.from([0x30, ...remainingLength(bodyBytes)]), Buffer.alloc(bodyBytes, 7)]);

/** Feed `bytes` in chunks cut at `cuts` (fractions of the length); the first refusal wins. */
function scan(scanner: PacketSizeScanner, bytes: Buffer, cuts: number[] = []): PacketScan {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  let start = 0;
  for (const end of [...points, bytes.length]) {
    const result = scanner.feed(bytes.subarray(start, end));
    if (!result.ok) return result;
    start = end;
  }
  return { ok: true };
}

const FC = { seed: 20240807, numRuns: 200 };

describe('PacketSizeScanner', () => {
  it('accepts a packet of exactly the cap and refuses one byte more', () => {
    const cap = 1_000;
    const fits = packet(cap - 3); // 1 header byte + 2 length bytes + body
    expect(fits).toHaveLength(cap);
    expect(new PacketSizeScanner(cap).feed(fits)).toEqual({ ok: true });
    expect(new PacketSizeScanner(cap).feed(packet(cap - 2))).toEqual({
      ok: false,
      reason: 'too_large',
      declaredBytes: cap + 1,
    });
  });

  it('refuses from the header alone, before any of the body arrives', () => {
    const header = Buffer.from([0x30, ...remainingLength(256 * 1024 * 1024 - 1)]);
    expect(new PacketSizeScanner(256 * 1024).feed(header)).toMatchObject({ reason: 'too_large' });
  });

  it('refuses a remaining length of more than four bytes', () => {
    const scanner = new PacketSizeScanner(clampPacketCap(Number.MAX_SAFE_INTEGER));
    expect(scanner.feed(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toEqual({
      ok: false,
      reason: 'malformed_length',
    });
  });

  it('follows zero-length packets (PINGREQ, DISCONNECT)', () => {
    const scanner = new PacketSizeScanner(10);
    expect(scanner.feed(Buffer.from([0xc0, 0x00, 0xe0, 0x00]))).toEqual({ ok: true });
    expect(scanner.feed(packet(8))).toEqual({ ok: true }); // 10 bytes: exactly the cap
    expect(scanner.feed(packet(9))).toMatchObject({ reason: 'too_large', declaredBytes: 11 });
  });

  it('accepts any stream of packets within the cap, however it is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20_000 }),
        fc.array(fc.nat({ max: 20_000 }), { maxLength: 8 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        (cap, sizes, cuts) => {
          const stream = Buffer.concat(sizes.map((s) => packet(s)).filter((p) => p.length <= cap));
          expect(scan(new PacketSizeScanner(cap), stream, cuts)).toEqual({ ok: true });
        },
      ),
      FC,
    );
  });

  it('refuses the first packet over the cap, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 5_000 }),
        fc.array(fc.nat({ max: 190 }), { maxLength: 5 }),
        fc.integer({ min: 1, max: 50_000 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        (cap, smallSizes, excess, cuts) => {
          const big = packet(cap + excess);
          const stream = Buffer.concat([...smallSizes.map((s) => packet(s)), big, packet(0)]);
          expect(scan(new PacketSizeScanner(cap), stream, cuts)).toMatchObject({
            ok: false,
            reason: 'too_large',
          });
        },
      ),
      FC,
    );
  });
});

describe('CappedConnection', () => {
  async function pair(cap: number) {
    const refusals: PacketScan[] = [];
    const server = createServer();
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    const client = connect(address.port, '127.0.0.1');
    const [socket] = await accepted;
    const conn = new CappedConnection(socket, cap, (s) => refusals.push(s));
    const cleanup = async () => {
      client.destroy();
      conn.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    };
    return { client, conn, refusals, cleanup };
  }

  it('passes bytes both ways unchanged', async () => {
    const { client, conn, cleanup } = await pair(1_000);
    try {
      const inbound = once(conn, 'data') as Promise<[Buffer]>;
      client.write(packet(10));
      expect((await inbound)[0]).toEqual(packet(10));
      const outbound = once(client, 'data') as Promise<[Buffer]>;
      conn.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      expect((await outbound)[0]).toEqual(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      expect(conn.remoteAddress).toBe('127.0.0.1');
    } finally {
      await cleanup();
    }
  });

  it('closes the connection on a packet over the cap, without passing it on', async () => {
    const { client, conn, refusals, cleanup } = await pair(100);
    try {
      const received: Buffer[] = [];
      conn.on('data', (b: Buffer) => received.push(b));
      const clientClosed = once(client, 'close');
      client.write(Buffer.from([0x30, ...remainingLength(1_000_000)]));
      await clientClosed;
      expect(conn.destroyed).toBe(true);
      expect(received).toEqual([]);
      expect(refusals).toEqual([{ ok: false, reason: 'too_large', declaredBytes: 1_000_004 }]);
    } finally {
      await cleanup();
    }
  });
});
