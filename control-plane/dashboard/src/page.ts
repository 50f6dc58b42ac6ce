/** What every page gets, and the helpers pages share. */
import { ApiError, type Api, type Me } from './api.js';
import { debounce, h, type Child } from './dom.js';
import type { LiveEvent, LiveEvents } from './live.js';

export interface PageContext {
  readonly api: Api;
  readonly me: Me;
  readonly live: LiveEvents;
  /** The page's container (emptied before each page). */
  readonly root: HTMLElement;
  /** Path segments after the page name (`#/rollouts/abc` gives `['abc']`). */
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  /** Run `fn` when the page is left. */
  onDispose(fn: () => void): void;
  /** False once the page was left (drop late responses). */
  isCurrent(): boolean;
  /** Go to a hash route (`#/fleet?selector=...`). */
  navigate(hash: string): void;
}

export type Page = (ctx: PageContext) => Promise<void>;

/**
 * Call `refresh` (debounced by `ms`) whenever a live event passes `filter`, when the event stream
 * (re)connects, and when the window is resized (charts are drawn to their container's width).
 */
export function refreshOn(
  ctx: PageContext,
  filter: (e: LiveEvent) => boolean,
  refresh: () => Promise<void>,
  ms = 300,
): void {
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (!ctx.isCurrent()) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await refresh();
    } catch (e) {
      console.error('refresh failed', e);
    } finally {
      running = false;
      if (again) {
        again = false;
        void run();
      }
    }
  };
  const d = debounce(() => void run(), ms);
  const off = ctx.live.subscribe((e) => {
    if (e.type === 'stream.connected' || filter(e)) d();
  });
  let lastWidth = window.innerWidth;
  const onResize = () => {
    if (Math.abs(window.innerWidth - lastWidth) < 40) return;
    lastWidth = window.innerWidth;
    d();
  };
  window.addEventListener('resize', onResize);
  ctx.onDispose(() => {
    off();
    d.cancel();
    window.removeEventListener('resize', onResize);
  });
}

/** Also refresh every `ms` (data the event stream does not announce, e.g. new drift windows). */
export function refreshEvery(ctx: PageContext, refresh: () => Promise<void>, ms: number): void {
  const timer = setInterval(() => {
    if (!ctx.isCurrent()) return;
    refresh().catch((e: unknown) => {
      console.error('refresh failed', e);
    });
  }, ms);
  ctx.onDispose(() => {
    clearInterval(timer);
  });
}

/** A message box for a failed call (the API's message, which never echoes secrets). */
export function errorBox(e: unknown): HTMLElement {
  const text =
    e instanceof ApiError
      ? e.status === 403
        ? `Not allowed: ${e.message}`
        : `${e.message} (${e.code})`
      : String(e);
  return h('div', { class: 'notice error', role: 'alert' }, text);
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

/** A table that scrolls sideways on narrow screens instead of breaking the layout. */
export function table(head: readonly string[], rows: readonly HTMLTableRowElement[]): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
}

export function empty(text: string): HTMLElement {
  return h('p', { class: 'empty' }, text);
}

/** Width available to a chart inside `el` (attached to the document), in CSS pixels. */
export function chartWidth(el: HTMLElement, min = 260): number {
  return Math.max(min, Math.floor(el.clientWidth));
}
