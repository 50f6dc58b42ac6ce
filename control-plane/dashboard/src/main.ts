/**
 * The dashboard's entry point: sign-in, the shell (navigation, live status, who is signed in) and
 * the hash router (`#/fleet`, `#/rollouts/<id>`, ...). Pages live in `pages/`.
 */
import { Api, ApiError, signInError, storedToken, storeToken, type Me } from './api.js';
import { fill, h, on } from './dom.js';
import { LiveEvents, type LiveStatus } from './live.js';
import type { Page, PageContext } from './page.js';
import { auditPage } from './pages/audit.js';
import { driftPage } from './pages/drift.js';
import { fleetPage } from './pages/fleet.js';
import { retrainingPage } from './pages/retraining.js';
import { rolloutPage, rolloutsPage } from './pages/rollouts.js';

const app = document.getElementById('app')!;

interface Route {
  readonly page: Page;
  readonly nav: string;
}

function route(parts: readonly string[]): Route | undefined {
  const [name, id] = parts;
  switch (name) {
    case 'fleet':
      return { page: fleetPage, nav: 'fleet' };
    case 'rollouts':
      return { page: id === undefined ? rolloutsPage : rolloutPage, nav: 'rollouts' };
    case 'drift':
      return { page: driftPage, nav: 'drift' };
    case 'retraining':
      return { page: retrainingPage, nav: 'retraining' };
    case 'audit':
      return { page: auditPage, nav: 'audit' };
    default:
      return undefined;
  }
}

/** `#/rollouts/abc?x=1` as path segments and query. */
function parseHash(hash: string): { parts: string[]; query: URLSearchParams } {
  const raw = hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { parts, query: new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1)) };
}

function signIn(message?: string): void {
  document.title = 'Sign in · Edgefleet';
  const input = h('input', {
    type: 'password',
    name: 'token',
    id: 'token',
    autocomplete: 'off',
    required: true,
    placeholder: 'efo_…',
    spellcheck: 'false',
  });
  const error = h(
    'p',
    { class: 'notice error', role: 'alert', hidden: message === undefined },
    message ?? '',
  );
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = on(
    h(
      'form',
      { class: 'signin card' },
      h('h1', {}, h('span', { class: 'logo' }), 'Edgefleet'),
      h('p', { class: 'muted' }, 'Sign in with an operator token (viewer, deployer or admin).'),
      h('label', { for: 'token' }, 'Operator token'),
      input,
      error,
      button,
      h(
        'p',
        { class: 'muted small' },
        'The token stays in this browser tab (session storage) and is sent only to this control plane. ' +
          'The first admin token is printed when the server first starts and written to <data dir>/admin-token.',
      ),
    ),
    'submit',
    (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (token === '') return;
      button.disabled = true;
      error.hidden = true;
      new Api(token)
        .get<Me>('/v1/whoami')
        .then((me) => {
          storeToken(token);
          if (location.hash === '' || location.hash.startsWith('#/signin'))
            location.hash = '#/fleet';
          start(new Api(token), me);
        })
        .catch((e: unknown) => {
          error.textContent = signInError(e);
          error.hidden = false;
          button.disabled = false;
          input.select();
        });
    },
  );
  fill(app, h('main', { class: 'signin-wrap' }, form));
  input.focus();
}

let stopCurrent: (() => void) | undefined;

function start(api: Api, me: Me): void {
  stopCurrent?.();
  const live = new LiveEvents(api.token);
  const main = h('main', { id: 'main', tabindex: '-1' });
  const liveEl = h('span', { class: 'live', 'data-testid': 'live-status' });
  const navItems: [string, string][] = [
    ['fleet', 'Fleet'],
    ['rollouts', 'Rollouts'],
    ['drift', 'Drift'],
    ['retraining', 'Retraining'],
    ...(me.canAdminister ? ([['audit', 'Audit']] as [string, string][]) : []),
  ];
  const links = new Map(navItems.map(([k, label]) => [k, h('a', { href: `#/${k}` }, label)]));
  const signOut = on(h('button', { type: 'button', class: 'link' }, 'Sign out'), 'click', () => {
    storeToken(null);
    stopCurrent?.();
    location.hash = '';
    signIn();
  });
  fill(
    app,
    h(
      'header',
      { class: 'top' },
      h('a', { class: 'brand', href: '#/fleet' }, h('span', { class: 'logo' }), 'Edgefleet'),
      h('nav', { 'aria-label': 'pages' }, [...links.values()]),
      h(
        'div',
        { class: 'who' },
        liveEl,
        h(
          'span',
          { class: 'me', 'data-testid': 'whoami' },
          me.name,
          ' ',
          h('span', { class: 'role' }, me.role),
        ),
        signOut,
      ),
    ),
    main,
  );
  const offStatus = live.onStatus((st: LiveStatus) => {
    liveEl.className = `live ${st}`;
    liveEl.textContent =
      st === 'live'
        ? 'live'
        : st === 'connecting'
          ? 'connecting…'
          : st === 'denied'
            ? 'signed out'
            : 'reconnecting…';
    liveEl.title =
      st === 'live'
        ? 'Receiving live updates from the control plane'
        : 'Live updates paused: retrying';
    if (st === 'denied') {
      storeToken(null);
      signIn('The token is no longer accepted (revoked or expired): sign in again.');
    }
  });
  live.start();

  let disposers: (() => void)[] = [];
  let generation = 0;
  const render = () => {
    for (const d of disposers) d();
    disposers = [];
    const gen = ++generation;
    const { parts, query } = parseHash(location.hash);
    const r = route(parts);
    if (r === undefined) {
      location.replace('#/fleet');
      return;
    }
    for (const [k, a] of links) {
      if (k === r.nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${links.get(r.nav)?.textContent ?? 'Edgefleet'} · Edgefleet`;
    const ctx: PageContext = {
      api,
      me,
      live,
      root: main,
      params: parts.slice(1),
      query,
      onDispose: (fn) => disposers.push(fn),
      isCurrent: () => gen === generation,
      navigate: (hash) => {
        if (location.hash === hash) render();
        else location.hash = hash;
      },
    };
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    main.setAttribute('aria-busy', 'true');
    r.page(ctx)
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 401) {
          storeToken(null);
          signIn('The token is no longer accepted (revoked or expired): sign in again.');
          return;
        }
        if (gen === generation)
          fill(main, h('div', { class: 'notice error' }, `This page failed: ${String(e)}`));
      })
      .finally(() => {
        if (gen === generation) main.removeAttribute('aria-busy');
      });
  };
  window.addEventListener('hashchange', render);
  stopCurrent = () => {
    window.removeEventListener('hashchange', render);
    for (const d of disposers) d();
    disposers = [];
    generation++;
    offStatus();
    live.stop();
    stopCurrent = undefined;
  };
  render();
}

function boot(): void {
  const token = storedToken();
  if (token === null) {
    signIn();
    return;
  }
  const api = new Api(token);
  api
    .get<Me>('/v1/whoami')
    .then((me) => {
      start(api, me);
    })
    .catch((e: unknown) => {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) storeToken(null);
      signIn(signInError(e));
    });
}

boot();
