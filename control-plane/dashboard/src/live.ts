/**
 * Live updates: `GET /v1/events` (server-sent events) read with fetch, so the operator token travels
 * in the Authorization header as for every other call. Reconnects with backoff (1 s doubling to
 * 30 s) when the stream ends or fails; stops for good on 401/403 (the token was revoked).
 */
import { SseParser } from './sse.js';

export interface LiveEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export type LiveStatus = 'connecting' | 'live' | 'offline' | 'denied';

export class LiveEvents {
  private readonly listeners = new Set<(e: LiveEvent) => void>();
  private readonly statusListeners = new Set<(s: LiveStatus) => void>();
  private abort: AbortController | undefined;
  private stopped = false;
  private backoffMs = 1000;
  status: LiveStatus = 'connecting';

  constructor(private readonly token: string) {}

  start(): void {
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  /** Listen to every event; returns the unsubscribe function. */
  subscribe(listener: (e: LiveEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener: (s: LiveStatus) => void): () => void {
    this.statusListeners.add(listener);
    listener(this.status);
    return () => this.statusListeners.delete(listener);
  }

  /** Read through a method: `stop()` may have run while the loop awaited. */
  private isStopped(): boolean {
    return this.stopped;
  }

  private setStatus(s: LiveStatus): void {
    if (s === this.status) return;
    this.status = s;
    for (const l of this.statusListeners) l(s);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const res = await fetch('/v1/events', {
          headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' },
          signal: this.abort.signal,
          cache: 'no-store',
        });
        if (res.status === 401 || res.status === 403) {
          this.setStatus('denied');
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(value)) {
            if (m.event === 'hello') {
              this.setStatus('live');
              this.backoffMs = 1000;
              // Anything may have changed while disconnected: tell pages to refresh.
              this.dispatch({ type: 'stream.connected', data: {} });
              continue;
            }
            if (m.event === 'ping') continue;
            this.dispatch(parse(m.event, m.data));
          }
        }
      } catch {
        /* network error or abort: retried below unless stopped */
      }
      if (this.isStopped()) return;
      this.setStatus('offline');
      await new Promise((r) => setTimeout(r, this.backoffMs));
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    }
  }

  private dispatch(e: LiveEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        console.error('live event listener failed', err);
      }
    }
  }
}

function parse(type: string, data: string): LiveEvent {
  try {
    const parsed = JSON.parse(data) as { type?: unknown; data?: unknown };
    const d = parsed.data;
    return {
      type,
      data: typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : {},
    };
  } catch {
    return { type, data: {} };
  }
}
