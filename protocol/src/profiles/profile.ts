/**
 * A profile: named feature sketches over a window. Numeric features carry exact moments
 * (`NumericSummary`) and a KLL quantile sketch; categorical features carry frequent-item counts.
 * Devices send live profiles; the release carries a reference profile built from training data;
 * drift metrics compare the two (see `../drift/`).
 */
import { EdgefleetError, fail, ok, type Result } from '../errors.js';
import {
  FREQUENT_ITEMS_DEFAULT_MAX_ITEMS,
  FREQUENT_ITEMS_MAX_MAX_ITEMS,
  FrequentItems,
} from '../sketches/frequent-items.js';
import { KllSketch } from '../sketches/kll.js';
import { NumericSummary } from '../sketches/numeric-summary.js';
import type { RandomSource } from '../sketches/types.js';
import type { FeatureKind } from './features.js';

/** Sketches of a numeric feature. */
export interface NumericFeatureSketch {
  readonly kind: 'numeric';
  readonly summary: NumericSummary;
  readonly kll: KllSketch;
}

/**
 * Add one value to a numeric feature. The summary (count, mean, M2, min, max) stays exact; the quantile
 * sketch keeps the value at float32 precision (relative error 6e-8, far below the sketch's 1.3% rank
 * error), which lets its wire form use 4 bytes per retained item: a feature stays under 4 KB at k = 200.
 */
export function updateNumericFeature(s: NumericFeatureSketch, x: number | null): void {
  s.summary.update(x);
  if (x !== null && Number.isFinite(x)) s.kll.update(Math.fround(x));
}

/** Sketch of a categorical feature (predicted class, category). */
export interface CategoricalFeatureSketch {
  readonly kind: 'categorical';
  readonly items: FrequentItems;
}

export type FeatureSketch = NumericFeatureSketch | CategoricalFeatureSketch;

/** The time window a profile covers: ISO 8601 timestamps, start <= end. */
export interface ProfileWindow {
  readonly start: string;
  readonly end: string;
}

/** Sketch parameters of new profiles. */
export interface SketchOptions {
  /** KLL accuracy parameter (default 200). */
  readonly kllK?: number;
  /** Frequent-items capacity of categorical features (default 64). */
  readonly maxItems?: number;
  /** Coin flips of the KLL sketches; pass `createRandom(seed)` for reproducible sketches. */
  readonly random?: RandomSource;
}

/**
 * Frequent-items capacity for a categorical feature with `categories` known values (e.g. a
 * classifier's class count): enough counters to count every class exactly, up to the sketch's cap,
 * and never fewer than `opts.maxItems` (default 64). Exact class counts make drift metrics exact.
 */
export function categoricalCapacity(categories: number, opts: SketchOptions = {}): number {
  const base = opts.maxItems ?? FREQUENT_ITEMS_DEFAULT_MAX_ITEMS;
  return Math.min(FREQUENT_ITEMS_MAX_MAX_ITEMS, Math.max(base, categories));
}

/** An empty sketch of the given kind. */
export function emptyFeatureSketch(kind: FeatureKind, opts: SketchOptions = {}): FeatureSketch {
  return kind === 'numeric'
    ? {
        kind,
        summary: new NumericSummary(),
        kll: new KllSketch({ k: opts.kllK, random: opts.random }),
      }
    : {
        kind,
        items: new FrequentItems({ maxItems: opts.maxItems }),
      };
}

/** Number of values a feature sketch has seen (for a numeric feature: finite values only). */
export function featureCount(s: FeatureSketch): number {
  return s.kind === 'numeric' ? s.summary.count : s.items.n;
}

function windowUnion(
  a: ProfileWindow | undefined,
  b: ProfileWindow | undefined,
): ProfileWindow | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return {
    start: Date.parse(b.start) < Date.parse(a.start) ? b.start : a.start,
    end: Date.parse(b.end) > Date.parse(a.end) ? b.end : a.end,
  };
}

/**
 * Named feature sketches over a window. A profile owns its sketches; `merge` and `mergeProfiles`
 * return new profiles and leave their inputs unchanged.
 */
export class Profile {
  readonly window: ProfileWindow | undefined;
  private readonly sketches: ReadonlyMap<string, FeatureSketch>;

  /** Takes ownership of the sketches (they should not be updated elsewhere afterwards). */
  constructor(features: Iterable<readonly [string, FeatureSketch]>, window?: ProfileWindow) {
    this.sketches = new Map(features);
    this.window = window;
  }

  /** Feature names, sorted. */
  get names(): string[] {
    return [...this.sketches.keys()].sort();
  }

  get size(): number {
    return this.sketches.size;
  }

  get(name: string): FeatureSketch | undefined {
    return this.sketches.get(name);
  }

  has(name: string): boolean {
    return this.sketches.has(name);
  }

  /** Features in name order. */
  entries(): [string, FeatureSketch][] {
    return this.names.map((n) => [n, this.sketches.get(n)!]);
  }

  /** An independent deep copy. */
  clone(random?: RandomSource): Profile {
    const r = mergeProfiles([this], random);
    // A single profile cannot conflict with itself.
    if (!r.ok) throw EdgefleetError.fromFailure(r);
    return r.value;
  }

  /** This profile merged with another (see `mergeProfiles`). */
  merge(other: Profile, random?: RandomSource): Result<Profile> {
    return mergeProfiles([this, other], random);
  }
}

/** What the profiles being merged say about one feature. */
interface FeaturePlan {
  readonly kind: FeatureKind;
  /** KLL k (numeric): the same in every profile. */
  readonly k: number;
  /** Smallest frequent-items capacity (categorical): the merged summary's capacity. */
  maxItems: number;
}

/**
 * Merge profiles into a new one: the union of their features (a feature missing from one profile
 * contributes nothing), every sketch merged exactly (summaries, counts) or within the sketch's error
 * bound (KLL, frequent items), the window spanning all windows. A categorical feature keeps the
 * smallest frequent-items capacity among the inputs (its error bound is the weakest one's).
 * Fails with EF_MALFORMED if a feature is numeric in one profile and categorical in another, or if
 * its KLL sketches have different k. The inputs are left unchanged.
 */
export function mergeProfiles(
  profiles: readonly Profile[],
  random?: RandomSource,
): Result<Profile> {
  const plans = new Map<string, FeaturePlan>();
  for (const p of profiles) {
    for (const [name, s] of p.entries()) {
      const plan = plans.get(name);
      const k = s.kind === 'numeric' ? s.kll.k : 0;
      const maxItems = s.kind === 'categorical' ? s.items.maxItems : 0;
      if (plan === undefined) {
        plans.set(name, { kind: s.kind, k, maxItems });
      } else if (plan.kind !== s.kind) {
        return fail(
          'EF_MALFORMED',
          `Feature "${name}" is ${plan.kind} in one profile and ${s.kind} in another.`,
          { feature: name },
        );
      } else if (plan.k !== k) {
        return fail(
          'EF_MALFORMED',
          `Feature "${name}" has KLL sketches with different k (${plan.k} and ${k}).`,
          { feature: name },
        );
      } else {
        plan.maxItems = Math.min(plan.maxItems, maxItems);
      }
    }
  }
  // Everything is checked: the in-place merges below cannot fail half-way.
  const merged = new Map<string, FeatureSketch>();
  for (const [name, plan] of plans) {
    merged.set(
      name,
      emptyFeatureSketch(plan.kind, {
        kllK: plan.kind === 'numeric' ? plan.k : undefined,
        maxItems: plan.kind === 'categorical' ? plan.maxItems : undefined,
        random,
      }),
    );
  }
  let window: ProfileWindow | undefined;
  for (const p of profiles) {
    window = windowUnion(window, p.window);
    for (const [name, s] of p.entries()) {
      const into = merged.get(name)!;
      if (into.kind === 'numeric' && s.kind === 'numeric') {
        into.summary.merge(s.summary);
        into.kll.merge(s.kll);
      } else if (into.kind === 'categorical' && s.kind === 'categorical') {
        into.items.merge(s.items);
      }
    }
  }
  return ok(new Profile(merged, window));
}
