/**
 * The control plane's event stream (`GET /v1/events`, server-sent events): rollout changes, device
 * deployment reports, drift changes. In-process fan-out; a slow subscriber is dropped, never waited on.
 */
export interface ServerEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export type EventListener = (event: ServerEvent) => void;

export class EventBus {
  private readonly listeners = new Set<EventListener>();

  emit(event: ServerEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        this.listeners.delete(l);
      }
    }
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get size(): number {
    return this.listeners.size;
  }
}
