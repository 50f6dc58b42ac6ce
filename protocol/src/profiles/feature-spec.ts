/**
 * The feature spec: what a device sketches of its model's inputs and outputs. It travels inside the
 * signed release document, so the reference profile (built by the control plane from training data)
 * and the live profiles (built by devices from served traffic) always describe the same features.
 *
 * Feature names are derived from the spec (see `featureNames` in profile code) and are stable:
 *   tabular   `<input>.<column>`                 numeric, one per column of an [N, F] tensor
 *   image     `<input>.mean.<channel>` / `<input>.std.<channel>`   numeric, per-sample statistics
 *   classifier `<output>.class` (categorical: predicted class)  and `<output>.top_score` (numeric)
 *   regressor `<output>.<name>`                  numeric, one per output column
 */
import { z } from 'zod';

const name = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\s]+$/, 'must not contain white space');

/** An `[N, F]` input: one numeric feature per column, named. */
export const TabularInputSpecSchema = z.strictObject({
  kind: z.literal('tabular'),
  input: name,
  columns: z.array(name).min(1).max(4096),
});

/** An image tensor: per-sample mean and standard deviation of each channel. */
export const ImageInputSpecSchema = z.strictObject({
  kind: z.literal('image'),
  input: name,
  layout: z.enum(['NCHW', 'NHWC']),
  /** Channel names; their count must equal the channel dimension (e.g. ["gray"] or ["r","g","b"]). */
  channels: z.array(name).min(1).max(64),
});

export const InputFeatureSpecSchema = z.discriminatedUnion('kind', [
  TabularInputSpecSchema,
  ImageInputSpecSchema,
]);

/** A classifier output `[N, C]`: predicted class (argmax) and its score. */
export const ClassifierOutputSpecSchema = z.strictObject({
  kind: z.literal('classifier'),
  output: name,
  /** Class labels by index; when absent the class index is the label. */
  classes: z.array(z.string().max(128)).max(100_000).optional(),
  /** Whether the output holds logits (softmax applied before taking the top score) or probabilities. */
  scores: z.enum(['logits', 'probabilities']),
});

/** A regressor output `[N]` or `[N, K]`: the value of each output column. */
export const RegressorOutputSpecSchema = z.strictObject({
  kind: z.literal('regressor'),
  output: name,
  names: z.array(name).min(1).max(4096),
});

export const OutputFeatureSpecSchema = z.discriminatedUnion('kind', [
  ClassifierOutputSpecSchema,
  RegressorOutputSpecSchema,
]);

export const FeatureSpecSchema = z.strictObject({
  inputs: z.array(InputFeatureSpecSchema).max(64),
  outputs: z.array(OutputFeatureSpecSchema).max(64),
});

export type TabularInputSpec = z.infer<typeof TabularInputSpecSchema>;
export type ImageInputSpec = z.infer<typeof ImageInputSpecSchema>;
export type InputFeatureSpec = z.infer<typeof InputFeatureSpecSchema>;
export type ClassifierOutputSpec = z.infer<typeof ClassifierOutputSpecSchema>;
export type RegressorOutputSpec = z.infer<typeof RegressorOutputSpecSchema>;
export type OutputFeatureSpec = z.infer<typeof OutputFeatureSpecSchema>;
export type FeatureSpec = z.infer<typeof FeatureSpecSchema>;
