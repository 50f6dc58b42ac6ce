/**
 * A byte cap on inbound MQTT packets, enforced on the socket before aedes sees the bytes.
 *
 * aedes has no maximum packet size: its parser buffers a packet until the number of bytes its fixed
 * header declares (up to 256 MiB) has arrived. So we read the fixed headers as the bytes stream past
 * and close the connection as soon as a packet declares more than the cap; the body of an oversized
 * packet is never buffered. MQTT 3.1.1 has no way to tell the client why, so closing the connection is
 * the answer to the protocol violation [MQTT-4.8.0-1]. Only that connection is affected.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

/** The largest remaining length MQTT can express: four length bytes (MQTT 3.1.1 §2.2.3). */
const MAX_REMAINING_LENGTH = 268_435_455;
const MAX_LENGTH_BYTES = 4;

export type PacketScan =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'too_large'; readonly declaredBytes: number }
  | { readonly ok: false; readonly reason: 'malformed_length' };

type ScannerState =
  | { readonly at: 'header' }
  | { readonly at: 'length'; value: number; multiplier: number; lengthBytes: number }
  | { readonly at: 'body'; remaining: number };

/**
 * Follows packet boundaries in an MQTT byte stream, looking only at fixed headers. Each packet's full
 * size (1 header byte + length bytes + remaining length) is checked against `maxPacketBytes`.
 * After a failed scan the stream is unusable: the caller closes the connection.
 */
export class PacketSizeScanner {
  #state: ScannerState = { at: 'header' };

  constructor(readonly maxPacketBytes: number) {
    if (!Number.isInteger(maxPacketBytes) || maxPacketBytes < 2) {
      throw new TypeError('maxPacketBytes must be an integer >= 2');
    }
  }

  /** Scan the next chunk of the stream. */
  feed(chunk: Uint8Array): PacketScan {
    let i = 0;
    while (i < chunk.length) {
      const state = this.#state;
      switch (state.at) {
        case 'header':
          i += 1; // packet type and flags: not our concern
          this.#state = { at: 'length', value: 0, multiplier: 1, lengthBytes: 0 };
          break;
        case 'length': {
          const byte = chunk[i]!;
          i += 1;
          state.value += (byte & 0x7f) * state.multiplier;
          state.lengthBytes += 1;
          if ((byte & 0x80) !== 0) {
            if (state.lengthBytes === MAX_LENGTH_BYTES)
              return { ok: false, reason: 'malformed_length' };
            state.multiplier *= 128;
            break;
          }
          const declared = 1 + state.lengthBytes + state.value;
          if (declared > this.maxPacketBytes) {
            return { ok: false, reason: 'too_large', declaredBytes: declared };
          }
          this.#state =
            state.value === 0 ? { at: 'header' } : { at: 'body', remaining: state.value };
          break;
        }
        case 'body': {
          const skip = Math.min(state.remaining, chunk.length - i);
          i += skip;
          state.remaining -= skip;
          if (state.remaining === 0) this.#state = { at: 'header' };
          break;
        }
      }
    }
    return { ok: true };
  }
}

/** Keeps the cap within what MQTT itself can declare. */
export function clampPacketCap(maxPacketBytes: number): number {
  return Math.min(maxPacketBytes, 1 + MAX_LENGTH_BYTES + MAX_REMAINING_LENGTH);
}

/**
 * A connection handed to aedes instead of the raw socket: the same bytes both ways, with every inbound
 * chunk scanned first. An oversized packet destroys the connection (and the socket) before aedes
 * receives the chunk that declares it.
 */
export class CappedConnection extends Duplex {
  /** The client's address, for rate limiting and logs. */
  readonly remoteAddress: string | undefined;
  readonly #socket: Socket;
  readonly #scanner: PacketSizeScanner;

  constructor(
    socket: Socket,
    maxPacketBytes: number,
    onRefused: (scan: Exclude<PacketScan, { ok: true }>, connection: CappedConnection) => void,
  ) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#scanner = new PacketSizeScanner(maxPacketBytes);
    this.remoteAddress = socket.remoteAddress;

    socket.on('data', (chunk: Buffer) => {
      const scan = this.#scanner.feed(chunk);
      if (!scan.ok) {
        onRefused(scan, this);
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    let ended = false;
    socket.on('end', () => {
      ended = true;
      this.push(null);
    });
    socket.on('error', (err) => this.destroy(err));
    // After a clean end, let the reader drain what was pushed (e.g. PUBLISH then DISCONNECT then
    // FIN): aedes destroys the connection itself when it reads the end.
    socket.on('close', () => {
      if (!ended) this.destroy();
    });
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void) {
    this.#socket.write(chunk, encoding, callback);
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (err?: Error | null) => void,
  ): void {
    // mqtt-packet writes one packet as several small writes under cork(): pass them on as one.
    this.#socket.cork();
    chunks.forEach(({ chunk, encoding }, i) => {
      if (i === chunks.length - 1) this.#socket.write(chunk, encoding, callback);
      else this.#socket.write(chunk, encoding);
    });
    this.#socket.uncork();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#socket.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#socket.destroy();
    callback(err);
  }
}
