/**
 * Building DOM without innerHTML: every piece of data becomes a text node or an attribute value set
 * with setAttribute, so nothing the API returns is ever parsed as markup. Event handler attributes
 * (`on...`) are refused; handlers are attached with `on()`.
 */
export type Child = Node | string | number | null | undefined | false | readonly Child[];
export type Attrs = Readonly<Record<string, string | number | boolean | null | undefined>>;

const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttrs(el: Element, attrs: Attrs | undefined): void {
  if (attrs === undefined) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (/^on/i.test(k)) throw new Error(`event handler attribute ${k}: use on()`);
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c as readonly Child[]);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c as string | number)));
  }
}

/** An HTML element: `h('td', {class: 'num'}, count)`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element. */
export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Attach an event listener; returns the element for chaining. */
export function on<E extends HTMLElement, K extends keyof HTMLElementEventMap>(
  el: E,
  type: K,
  listener: (ev: HTMLElementEventMap[K]) => void,
): E {
  el.addEventListener(type, listener);
  return el;
}

/** Replace an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A hash link into the dashboard: `link('#/rollouts/' + encodeURIComponent(id), text)`. */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  if (!href.startsWith('#/')) throw new Error('dashboard links are hash routes');
  return h('a', { href }, ...children);
}

/** A badge whose class names the state (`state-running`); unknown states share one class. */
export function badge(state: string, known: ReadonlySet<string>): HTMLSpanElement {
  const cls = known.has(state) ? `state-${state}` : 'state-other';
  return h('span', { class: `badge ${cls}` }, state.replace(/_/g, ' '));
}

/** Debounce a function: at most one call per `ms`, the last arguments win. */
export function debounce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const f = () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  };
  f.cancel = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return f;
}
