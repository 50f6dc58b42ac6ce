import { describe, expect, it } from 'vitest';
import { createRandom, nextFloat, nextNormal } from '../sketches/random.js';
import type { FeatureSpec } from './feature-spec.js';
import type { CategoricalFeatureSketch, NumericFeatureSketch, Profile } from './profile.js';
import { Profiler } from './profiler.js';

function profilerFor(spec: FeatureSpec): Profiler {
  const p = Profiler.create(spec, { random: createRandom(1) });
  if (!p.ok) throw new Error(p.message);
  return p.value;
}
const numeric = (p: Profile, name: string) => p.get(name) as NumericFeatureSketch;
const categorical = (p: Profile, name: string) => p.get(name) as CategoricalFeatureSketch;

describe('Profiler: tabular inputs', () => {
  const spec: FeatureSpec = {
    inputs: [{ kind: 'tabular', input: 'x', columns: ['a', 'b', 'c'] }],
    outputs: [],
  };

  it('sketches one numeric feature per column of an [N, F] tensor', () => {
    const profiler = profilerFor(spec);
    const data = new Float32Array([1, 10, 100, 2, 20, 200, 3, 30, NaN, 4, 40, 400]);
    expect(profiler.observeInputs({ x: { data, dims: [4, 3] } }).ok).toBe(true);
    const p = profiler.snapshot();
    expect(numeric(p, 'x.a').summary.mean).toBe(2.5);
    expect(numeric(p, 'x.b').summary.max).toBe(40);
    expect(numeric(p, 'x.c').summary.count).toBe(3);
    expect(numeric(p, 'x.c').summary.nans).toBe(1);
    expect(numeric(p, 'x.c').kll.n).toBe(3);
    expect(numeric(p, 'x.a').kll.quantile(0.5)).toBe(2);
  });

  it('accepts 64-bit integer tensors', () => {
    const profiler = profilerFor(spec);
    const data = new BigInt64Array([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(profiler.observeInputs({ x: { data, dims: [2, 3] } }).ok).toBe(true);
    expect(numeric(profiler.snapshot(), 'x.c').summary.mean).toBe(4.5);
  });

  it('fails on a column count or element count that does not match, and updates nothing', () => {
    const profiler = profilerFor(spec);
    const wrongColumns = profiler.observeInputs({ x: { data: new Float32Array(8), dims: [4, 2] } });
    expect(!wrongColumns.ok && wrongColumns.code).toBe('EF_MALFORMED');
    const wrongSize = profiler.observeInputs({ x: { data: new Float32Array(5), dims: [2, 3] } });
    expect(wrongSize.ok).toBe(false);
    const wrongRank = profiler.observeInputs({ x: { data: new Float32Array(3), dims: [3] } });
    expect(wrongRank.ok).toBe(false);
    const missing = profiler.observeInputs({ y: { data: new Float32Array(3), dims: [1, 3] } });
    expect(missing.ok).toBe(false);
    const negative = profiler.observeInputs({ x: { data: [], dims: [-1, 3] } });
    expect(negative.ok).toBe(false);
    expect(numeric(profiler.snapshot(), 'x.a').summary.total).toBe(0);
  });

  it('starts a new window on reset and rollover, leaving earlier snapshots alone', () => {
    const profiler = profilerFor(spec);
    const t = { x: { data: [1, 2, 3], dims: [1, 3] } };
    profiler.observeInputs(t);
    const first = profiler.snapshot({ start: '2024-01-01T00:00:00Z', end: '2024-01-01T00:01:00Z' });
    profiler.observeInputs(t);
    expect(numeric(first, 'x.a').summary.count).toBe(1);
    expect(first.window?.start).toBe('2024-01-01T00:00:00Z');
    const rolled = profiler.rollover();
    expect(numeric(rolled, 'x.a').summary.count).toBe(2);
    expect(numeric(profiler.snapshot(), 'x.a').summary.count).toBe(0);
    profiler.observeInputs(t);
    profiler.reset();
    expect(numeric(profiler.snapshot(), 'x.a').summary.count).toBe(0);
  });
});

describe('Profiler: image inputs', () => {
  const n = 3;
  const c = 3;
  const h = 4;
  const w = 5;
  const r = createRandom(7);
  // One image set, stored both ways: nchw[i][ch][y][x] === nhwc[i][y][x][ch].
  const nchw = new Float32Array(n * c * h * w);
  const nhwc = new Float32Array(n * c * h * w);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < h * w; p++) {
        const v = Math.fround(ch * 10 + nextNormal(r) * (ch + 1));
        nchw[(i * c + ch) * h * w + p] = v;
        nhwc[(i * h * w + p) * c + ch] = v;
      }
    }
  }
  const spec = (layout: 'NCHW' | 'NHWC'): FeatureSpec => ({
    inputs: [{ kind: 'image', input: 'img', layout, channels: ['r', 'g', 'b'] }],
    outputs: [],
  });

  it('gives identical per-sample channel statistics for NCHW and NHWC', () => {
    const a = profilerFor(spec('NCHW'));
    const b = profilerFor(spec('NHWC'));
    expect(a.observeInputs({ img: { data: nchw, dims: [n, c, h, w] } }).ok).toBe(true);
    expect(b.observeInputs({ img: { data: nhwc, dims: [n, h, w, c] } }).ok).toBe(true);
    const pa = a.snapshot();
    const pb = b.snapshot();
    for (const name of pa.names) {
      expect(numeric(pb, name).summary.toJSON()).toEqual(numeric(pa, name).summary.toJSON());
    }
  });

  it('computes the mean and population std of each channel of each sample', () => {
    const a = profilerFor(spec('NCHW'));
    a.observeInputs({ img: { data: nchw, dims: [n, c, h, w] } });
    const p = a.snapshot();
    // Independent computation for channel g (index 1).
    const means: number[] = [];
    const stds: number[] = [];
    for (let i = 0; i < n; i++) {
      const px = Array.from(nchw.subarray((i * c + 1) * h * w, (i * c + 2) * h * w));
      const m = px.reduce((s, v) => s + v, 0) / px.length;
      means.push(m);
      stds.push(Math.sqrt(px.reduce((s, v) => s + (v - m) ** 2, 0) / px.length));
    }
    const g = numeric(p, 'img.mean.g').summary;
    expect(g.count).toBe(n);
    expect(g.mean).toBeCloseTo(means.reduce((s, v) => s + v, 0) / n, 10);
    expect(g.min).toBeCloseTo(Math.min(...means), 10);
    const sd = numeric(p, 'img.std.g').summary;
    expect(sd.max).toBeCloseTo(Math.max(...stds), 10);
    expect(sd.min).toBeCloseTo(Math.min(...stds), 10);
  });

  it('fails when the channel dimension does not match the spec', () => {
    const a = profilerFor(spec('NHWC'));
    // An NCHW tensor given to an NHWC spec: the last dimension (5) is not 3 channels.
    const r1 = a.observeInputs({ img: { data: nchw, dims: [n, c, h, w] } });
    expect(!r1.ok && r1.message).toMatch(/5 channels/);
  });
});

describe('Profiler: classifier outputs', () => {
  const logits = [
    [2, 1, 0.5],
    [-1, 3, 0],
    [1000, 999, -1000],
    [0.1, 0.1, 0.1],
  ];
  const softmax = (row: number[]) => {
    const m = Math.max(...row);
    const e = row.map((x) => Math.exp(x - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  const spec = (scores: 'logits' | 'probabilities', classes?: string[]): FeatureSpec => ({
    inputs: [],
    outputs: [{ kind: 'classifier', output: 'out', scores, ...(classes ? { classes } : {}) }],
  });

  it('takes the argmax class and the softmax top score of logits, without overflow', () => {
    const profiler = profilerFor(spec('logits', ['cat', 'dog', 'eel']));
    const data = new Float32Array(logits.flat());
    expect(profiler.observeOutputs({ out: { data, dims: [4, 3] } }).ok).toBe(true);
    const p = profiler.snapshot();
    const items = categorical(p, 'out.class').items;
    expect(items.estimate('cat')).toBe(3);
    expect(items.estimate('dog')).toBe(1);
    const top = numeric(p, 'out.top_score').summary;
    const expected = logits.map((row) => Math.max(...softmax(row.map(Math.fround))));
    expect(top.max).toBeCloseTo(Math.max(...expected), 12);
    expect(top.min).toBeCloseTo(1 / 3, 12);
    expect(top.mean).toBeCloseTo(expected.reduce((a, b) => a + b, 0) / 4, 12);
  });

  it('gives the same features for logits as for the probabilities computed from them', () => {
    const fromLogits = profilerFor(spec('logits'));
    const fromProbs = profilerFor(spec('probabilities'));
    fromLogits.observeOutputs({ out: { data: logits.flat(), dims: [4, 3] } });
    fromProbs.observeOutputs({ out: { data: logits.flatMap(softmax), dims: [4, 3] } });
    const a = fromLogits.snapshot();
    const b = fromProbs.snapshot();
    expect(categorical(a, 'out.class').items.toJSON()).toEqual(
      categorical(b, 'out.class').items.toJSON(),
    );
    expect(numeric(a, 'out.top_score').summary.mean).toBeCloseTo(
      numeric(b, 'out.top_score').summary.mean,
      12,
    );
  });

  it('labels classes by index when the spec has no class names', () => {
    const profiler = profilerFor(spec('probabilities'));
    profiler.observeOutputs({ out: { data: [0.1, 0.9, 0.8, 0.2], dims: [2, 2] } });
    const items = categorical(profiler.snapshot(), 'out.class').items;
    expect(items.estimate('0')).toBe(1);
    expect(items.estimate('1')).toBe(1);
  });

  it('counts a row with a NaN score as a NaN top score and no class', () => {
    const profiler = profilerFor(spec('logits'));
    profiler.observeOutputs({ out: { data: [NaN, 1, 0, 1, 2, NaN], dims: [2, 3] } });
    const p = profiler.snapshot();
    expect(categorical(p, 'out.class').items.n).toBe(0);
    expect(numeric(p, 'out.top_score').summary.nans).toBe(2);
  });

  it('handles infinite logits in the limit', () => {
    const profiler = profilerFor(spec('logits'));
    profiler.observeOutputs({
      out: { data: [Infinity, 0, Infinity, -Infinity, -Infinity, -Infinity], dims: [2, 3] },
    });
    const top = numeric(profiler.snapshot(), 'out.top_score').summary;
    expect(top.max).toBe(0.5);
    expect(top.min).toBeCloseTo(1 / 3, 15);
  });

  it('fails when the class count does not match the class names', () => {
    const profiler = profilerFor(spec('logits', ['a', 'b']));
    const r = profiler.observeOutputs({ out: { data: logits.flat(), dims: [4, 3] } });
    expect(r.ok).toBe(false);
  });
});

describe('Profiler: regressor outputs and whole calls', () => {
  const spec: FeatureSpec = {
    inputs: [{ kind: 'tabular', input: 'x', columns: ['a'] }],
    outputs: [
      { kind: 'regressor', output: 'y', names: ['value'] },
      { kind: 'regressor', output: 'box', names: ['w', 'h'] },
    ],
  };

  it('sketches [N] and [N, K] regressor outputs', () => {
    const profiler = profilerFor(spec);
    const r = profiler.observeOutputs({
      y: { data: new Float64Array([1, 2, 3]), dims: [3] },
      box: { data: new Float64Array([1, 10, 2, 20, 3, 30]), dims: [3, 2] },
    });
    expect(r.ok).toBe(true);
    const p = profiler.snapshot();
    expect(numeric(p, 'y.value').summary.mean).toBe(2);
    expect(numeric(p, 'box.h').summary.mean).toBe(20);
    expect(numeric(p, 'box.w').kll.quantile(1)).toBe(3);
  });

  it('accepts [N, 1] for a single-name regressor', () => {
    const profiler = profilerFor(spec);
    const r = profiler.observeOutputs({
      y: { data: [5, 6], dims: [2, 1] },
      box: { data: [1, 1, 2, 2], dims: [2, 2] },
    });
    expect(r.ok).toBe(true);
  });

  it('updates nothing when any tensor of a call is invalid', () => {
    const profiler = profilerFor(spec);
    const r = profiler.observe(
      { x: { data: [1, 2], dims: [2, 1] } },
      { y: { data: [1, 2], dims: [2] }, box: { data: [1, 2, 3], dims: [1, 3] } },
    );
    expect(r.ok).toBe(false);
    const p = profiler.snapshot();
    for (const name of p.names) expect(numeric(p, name).summary.total).toBe(0);
  });

  it('refuses a spec that names a feature twice', () => {
    const r = Profiler.create({
      inputs: [
        { kind: 'tabular', input: 'x', columns: ['a'] },
        { kind: 'tabular', input: 'x', columns: ['a'] },
      ],
      outputs: [],
    });
    expect(r.ok).toBe(false);
  });

  it('keeps up with a large batch without per-row objects', () => {
    const profiler = profilerFor({
      inputs: [
        { kind: 'tabular', input: 'x', columns: Array.from({ length: 8 }, (_, i) => `c${i}`) },
      ],
      outputs: [{ kind: 'classifier', output: 'p', scores: 'logits' }],
    });
    const rows = 20_000;
    const r = createRandom(3);
    const x = new Float32Array(rows * 8).map(() => nextNormal(r));
    const p = new Float32Array(rows * 10).map(() => nextFloat(r));
    const started = performance.now();
    expect(
      profiler.observe({ x: { data: x, dims: [rows, 8] } }, { p: { data: p, dims: [rows, 10] } })
        .ok,
    ).toBe(true);
    // Generous: ~200k sketch updates; this guards against accidental quadratic work.
    expect(performance.now() - started).toBeLessThan(2000);
    expect(categorical(profiler.snapshot(), 'p.class').items.n).toBe(rows);
  });
});
