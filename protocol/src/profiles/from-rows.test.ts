import { describe, expect, it } from 'vitest';
import { createRandom } from '../sketches/random.js';
import { parseCsv } from './csv.js';
import type { FeatureSpec } from './feature-spec.js';
import { profileFromRows } from './from-rows.js';
import type { CategoricalFeatureSketch, NumericFeatureSketch } from './profile.js';

const spec: FeatureSpec = {
  inputs: [
    { kind: 'tabular', input: 'features', columns: ['age', 'income'] },
    { kind: 'image', input: 'img', layout: 'NCHW', channels: ['gray'] },
  ],
  outputs: [
    { kind: 'classifier', output: 'probs', scores: 'logits', classes: ['no', 'yes'] },
    { kind: 'regressor', output: 'price', names: ['usd'] },
  ],
};

describe('profileFromRows', () => {
  it('builds a reference profile from CSV rows', () => {
    const csv = [
      'age,features.income,probs.class,probs.top_score,note',
      '30,1000,yes,0.9,a',
      '40,"2000",no,0.8,b',
      ',3000,1,0.7,c',
      '50,,0,,d',
    ].join('\n');
    const rows = parseCsv(csv);
    if (!rows.ok) throw new Error(rows.message);
    const p = profileFromRows(rows.value, spec, {
      random: createRandom(1),
      window: { start: '2024-01-01T00:00:00Z', end: '2024-02-01T00:00:00Z' },
    });
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    const age = (p.value.get('features.age') as NumericFeatureSketch).summary;
    expect(age.count).toBe(3);
    expect(age.nulls).toBe(1);
    expect(age.mean).toBe(40);
    // The quoted "2000" is read as a number; the qualified column name wins over a bare one.
    const income = (p.value.get('features.income') as NumericFeatureSketch).summary;
    expect(income.count).toBe(3);
    expect(income.max).toBe(3000);
    // Class indices are labelled through the spec's classes, as the profiler labels them.
    const classes = (p.value.get('probs.class') as CategoricalFeatureSketch).items;
    expect(classes.estimate('yes')).toBe(2);
    expect(classes.estimate('no')).toBe(2);
    // Features with no column (image statistics, the regressor output) are left out.
    expect(p.value.names).toEqual([
      'features.age',
      'features.income',
      'probs.class',
      'probs.top_score',
    ]);
    expect(p.value.window?.end).toBe('2024-02-01T00:00:00Z');
  });

  it('takes optional output and image columns named like the features', () => {
    const rows = [
      { age: 1, income: 2, 'img.mean.gray': 0.5, 'img.std.gray': 0.1, 'price.usd': 10 },
      { age: 2, income: 3, 'img.mean.gray': 0.6, 'img.std.gray': 0.2, 'price.usd': 20 },
    ];
    const p = profileFromRows(rows, spec);
    expect(p.ok && p.value.names).toEqual([
      'features.age',
      'features.income',
      'img.mean.gray',
      'img.std.gray',
      'price.usd',
    ]);
  });

  it('rejects a dataset without a column the spec requires', () => {
    const p = profileFromRows([{ age: 1 }], spec);
    expect(!p.ok && p.details).toEqual({ feature: 'features.income' });
  });

  it('rejects a non-numeric value in a numeric column, naming row and column', () => {
    const p = profileFromRows(
      [
        { age: 1, income: 2 },
        { age: 'old', income: 3 },
      ],
      spec,
    );
    expect(p.ok).toBe(false);
    if (!p.ok) {
      expect(p.code).toBe('EF_MALFORMED');
      expect(p.details).toEqual({ row: 2, column: 'age' });
    }
  });

  it('rejects a class cell that is neither a label nor an index', () => {
    const p = profileFromRows([{ age: 1, income: 2, 'probs.class': 1.5 }], spec);
    expect(!p.ok && p.details).toEqual({ row: 1, column: 'probs.class' });
  });

  it('sizes the class summary to count every class exactly', () => {
    const many: FeatureSpec = {
      inputs: [],
      outputs: [{ kind: 'classifier', output: 'c', scores: 'probabilities' }],
    };
    const rows = Array.from({ length: 1000 }, (_, i) => ({ 'c.class': `k${i % 300}` }));
    const p = profileFromRows(rows, many);
    if (!p.ok) throw new Error(p.message);
    const items = (p.value.get('c.class') as CategoricalFeatureSketch).items;
    expect(items.maxError).toBe(0);
    expect(items.estimate('k7')).toBe(4);
  });
});
