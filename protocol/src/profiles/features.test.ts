import { describe, expect, it } from 'vitest';
import { FeatureSpecSchema, type FeatureSpec } from './feature-spec.js';
import { checkFeatureSpec, featureDescriptors, featureNames } from './features.js';

const spec: FeatureSpec = FeatureSpecSchema.parse({
  inputs: [
    { kind: 'tabular', input: 'features', columns: ['age', 'income'] },
    { kind: 'image', input: 'pixels', layout: 'NCHW', channels: ['r', 'g', 'b'] },
  ],
  outputs: [
    { kind: 'classifier', output: 'probs', scores: 'probabilities', classes: ['cat', 'dog'] },
    { kind: 'regressor', output: 'box', names: ['x', 'y'] },
  ],
});

describe('featureNames', () => {
  it('names features as documented in feature-spec.ts, inputs first, in spec order', () => {
    expect(featureNames(spec)).toEqual([
      'features.age',
      'features.income',
      'pixels.mean.r',
      'pixels.mean.g',
      'pixels.mean.b',
      'pixels.std.r',
      'pixels.std.g',
      'pixels.std.b',
      'probs.class',
      'probs.top_score',
      'box.x',
      'box.y',
    ]);
  });

  it('marks the predicted class categorical and everything else numeric', () => {
    const kinds = Object.fromEntries(featureDescriptors(spec).map((d) => [d.name, d.kind]));
    expect(kinds['probs.class']).toBe('categorical');
    expect(Object.values(kinds).filter((k) => k === 'categorical')).toHaveLength(1);
  });

  it('records the tensor and role each feature comes from', () => {
    const d = featureDescriptors(spec).find((f) => f.name === 'pixels.std.g')!;
    expect(d).toEqual({
      name: 'pixels.std.g',
      kind: 'numeric',
      source: 'input',
      tensor: 'pixels',
      role: { type: 'channel_std', channel: 1 },
    });
  });
});

describe('checkFeatureSpec', () => {
  it('accepts a spec with unique names', () => {
    const r = checkFeatureSpec(spec);
    expect(r.ok && r.value.length).toBe(12);
  });

  it('rejects a spec in which two entries produce the same feature name', () => {
    const clash = FeatureSpecSchema.parse({
      inputs: [
        { kind: 'tabular', input: 'img', columns: ['mean.r'] },
        { kind: 'image', input: 'img', layout: 'NHWC', channels: ['r'] },
      ],
      outputs: [],
    });
    const r = checkFeatureSpec(clash);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('EF_MALFORMED');
      expect(r.details).toEqual({ feature: 'img.mean.r' });
    }
  });

  it('rejects repeated channel names', () => {
    const r = checkFeatureSpec({
      inputs: [{ kind: 'image', input: 'x', layout: 'NCHW', channels: ['c', 'c'] }],
      outputs: [],
    });
    expect(r.ok).toBe(false);
  });
});
