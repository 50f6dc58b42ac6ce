/**
 * Feature descriptors: the flat list of named features a feature spec asks for.
 *
 * Names follow the scheme documented at the top of `feature-spec.ts` and are part of the contract:
 * a reference profile and every live profile of a release name their features the same way.
 */
import { fail, ok, type Result } from '../errors.js';
import type { FeatureSpec } from './feature-spec.js';

/** How a feature is sketched: numeric (summary + KLL quantiles) or categorical (frequent items). */
export type FeatureKind = 'numeric' | 'categorical';

/** What a feature measures, and in which tensor of the model it lives. */
export type FeatureRole =
  /** Column `index` of a tabular `[N, F]` input. */
  | { readonly type: 'column'; readonly index: number }
  /** Per-sample mean of image channel `channel`. */
  | { readonly type: 'channel_mean'; readonly channel: number }
  /** Per-sample (population) standard deviation of image channel `channel`. */
  | { readonly type: 'channel_std'; readonly channel: number }
  /** The predicted class (argmax) of a classifier. */
  | { readonly type: 'class' }
  /** The score of the predicted class (softmax of logits, or the probability). */
  | { readonly type: 'top_score' }
  /** Column `index` of a regressor output. */
  | { readonly type: 'value'; readonly index: number };

/** One named feature of a feature spec. */
export interface FeatureDescriptor {
  /** Stable feature name, e.g. `features.age`, `image.mean.r`, `probs.class`. */
  readonly name: string;
  readonly kind: FeatureKind;
  /** Whether the feature is computed from a model input or a model output. */
  readonly source: 'input' | 'output';
  /** Name of the model input or output tensor the feature is computed from. */
  readonly tensor: string;
  readonly role: FeatureRole;
}

/**
 * The features a spec describes, in spec order: inputs first, then outputs.
 * Names are not checked for uniqueness here; `checkFeatureSpec` does that.
 */
export function featureDescriptors(spec: FeatureSpec): FeatureDescriptor[] {
  const out: FeatureDescriptor[] = [];
  for (const input of spec.inputs) {
    const tensor = input.input;
    switch (input.kind) {
      case 'tabular':
        input.columns.forEach((column, index) => {
          out.push({
            name: `${tensor}.${column}`,
            kind: 'numeric',
            source: 'input',
            tensor,
            role: { type: 'column', index },
          });
        });
        break;
      case 'image':
        input.channels.forEach((channel, index) => {
          out.push({
            name: `${tensor}.mean.${channel}`,
            kind: 'numeric',
            source: 'input',
            tensor,
            role: { type: 'channel_mean', channel: index },
          });
        });
        input.channels.forEach((channel, index) => {
          out.push({
            name: `${tensor}.std.${channel}`,
            kind: 'numeric',
            source: 'input',
            tensor,
            role: { type: 'channel_std', channel: index },
          });
        });
        break;
    }
  }
  for (const output of spec.outputs) {
    const tensor = output.output;
    switch (output.kind) {
      case 'classifier':
        out.push({
          name: `${tensor}.class`,
          kind: 'categorical',
          source: 'output',
          tensor,
          role: { type: 'class' },
        });
        out.push({
          name: `${tensor}.top_score`,
          kind: 'numeric',
          source: 'output',
          tensor,
          role: { type: 'top_score' },
        });
        break;
      case 'regressor':
        output.names.forEach((column, index) => {
          out.push({
            name: `${tensor}.${column}`,
            kind: 'numeric',
            source: 'output',
            tensor,
            role: { type: 'value', index },
          });
        });
        break;
    }
  }
  return out;
}

/** The feature names a spec describes, in spec order. */
export function featureNames(spec: FeatureSpec): string[] {
  return featureDescriptors(spec).map((d) => d.name);
}

/**
 * Descriptors of a spec whose feature names are unique. Two spec entries can collide (a tabular
 * column named `mean.r` next to an image input of the same name, the same input listed twice,
 * a repeated channel name); a profile keyed by name could not tell such features apart.
 */
export function checkFeatureSpec(spec: FeatureSpec): Result<FeatureDescriptor[]> {
  const descriptors = featureDescriptors(spec);
  const seen = new Set<string>();
  for (const d of descriptors) {
    if (seen.has(d.name)) {
      return fail('EF_MALFORMED', `The feature spec names feature "${d.name}" more than once.`, {
        feature: d.name,
      });
    }
    seen.add(d.name);
  }
  return ok(descriptors);
}
