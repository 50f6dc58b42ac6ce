import { describe, expect, it } from 'vitest';
import { boundedFetch } from './bounded-fetch.js';

/** A base fetch whose responses the test releases by hand, one chunk per body. */
function manualBase() {
  const started: string[] = [];
  const bodies = new Map<string, ReadableStreamDefaultController<Uint8Array>>();
  const base = ((input: string) => {
    const url = input;
    started.push(url);
    if (url.endsWith('/missing')) return Promise.resolve(new Response('no', { status: 404 }));
    if (url.endsWith('/down')) return Promise.reject(new TypeError('connection refused'));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        bodies.set(url, controller);
      },
    });
    return Promise.resolve(new Response(body, { status: 200, headers: { 'x-id': url } }));
  }) as typeof fetch;
  return { base, started, bodies };
}

/** Let queued promise callbacks run. */
const settle = () =>
  new Promise<void>((resolve) => {
    setImmediate(resolve);
  });

describe('boundedFetch', () => {
  it('holds a slot until the body is read to its end, then lets the next request in', async () => {
    const m = manualBase();
    const f = boundedFetch(2, m.base);
    const a = f('http://x/a');
    const b = f('http://x/b');
    const c = f('http://x/c');
    await settle();
    expect(m.started).toEqual(['http://x/a', 'http://x/b']);

    const ra = await a;
    expect(ra.headers.get('x-id')).toBe('http://x/a');
    const reading = ra.arrayBuffer();
    m.bodies.get('http://x/a')!.enqueue(new Uint8Array([1, 2, 3]));
    await settle();
    expect(m.started).toHaveLength(2); // a's body is not finished yet
    m.bodies.get('http://x/a')!.close();
    expect(new Uint8Array(await reading)).toEqual(new Uint8Array([1, 2, 3]));
    await settle();
    expect(m.started).toEqual(['http://x/a', 'http://x/b', 'http://x/c']);

    // A cancelled body (an aborted download) frees its slot too.
    await (await b).body!.cancel();
    const rc = await c;
    m.bodies.get('http://x/c')!.close();
    await rc.arrayBuffer();
    const d = f('http://x/d');
    const e = f('http://x/e');
    await settle();
    expect(m.started.slice(3)).toEqual(['http://x/d', 'http://x/e']);
    for (const r of [await d, await e]) {
      await r.body!.cancel();
    }
  });

  it('frees the slot at once for an error status or a failed request', async () => {
    const m = manualBase();
    const f = boundedFetch(1, m.base);
    expect((await f('http://x/missing')).status).toBe(404);
    await expect(f('http://x/down')).rejects.toThrow('connection refused');
    const ok = f('http://x/ok');
    await settle();
    expect(m.started).toEqual(['http://x/missing', 'http://x/down', 'http://x/ok']);
    m.bodies.get('http://x/ok')!.close();
    await (await ok).arrayBuffer();
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => boundedFetch(0)).toThrow(RangeError);
    expect(() => boundedFetch(1.5)).toThrow(RangeError);
  });
});
