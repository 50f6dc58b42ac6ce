/**
 * Reference profiles from a reference dataset: rows keyed by column name (from `parseCsv` or JSON
 * rows), sketched with the same feature names as the live profiles devices send.
 *
 * Which column feeds which feature:
 * - tabular input `<input>` column `<c>`: the column named `<input>.<c>` if present, else `<c>`
 *   (required: a reference without a spec column is rejected);
 * - image statistics and model outputs cannot be recomputed from rows: they come from optional
 *   columns named like the feature (`<input>.mean.<ch>`, `<output>.class`, `<output>.top_score`,
 *   `<output>.<name>`), and a feature with no such column is left out of the profile (drift reports
 *   then mark it as having no reference). For images, profile reference tensors with `Profiler`.
 *
 * Numeric cells: numbers as they are, numeric strings parsed, null/undefined/'' as nulls; any other
 * value is an error naming the row and column. Class cells: strings as they are; an integer is a
 * class index, labelled through the spec's `classes` when it has them (as the profiler does).
 */
import { fail, ok, type Result } from '../errors.js';
import type { FeatureSpec } from './feature-spec.js';
import { checkFeatureSpec, type FeatureDescriptor } from './features.js';
import {
  categoricalCapacity,
  emptyFeatureSketch,
  Profile,
  type FeatureSketch,
  type ProfileWindow,
  type SketchOptions,
  updateNumericFeature,
} from './profile.js';

/** A dataset row: column name -> cell. */
export type DataRow = Readonly<Record<string, unknown>>;

/** Options of `profileFromRows`. */
export interface ProfileFromRowsOptions extends SketchOptions {
  readonly window?: ProfileWindow;
}

const NUMERIC_TEXT =
  /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$|^\s*(?:[+-]?Infinity|NaN)\s*$/;

type Cell = { ok: true; value: number | null } | { ok: false };

function numericCell(v: unknown): Cell {
  if (v === null || v === undefined || v === '') return { ok: true, value: null };
  if (typeof v === 'number') return { ok: true, value: v };
  if (typeof v === 'string' && NUMERIC_TEXT.test(v)) return { ok: true, value: Number(v) };
  return { ok: false };
}

const has = (row: DataRow, key: string): boolean => Object.hasOwn(row, key);

/** Number of distinct non-empty values in a column (capped: only compared with the sketch cap). */
function distinct(rows: readonly DataRow[], column: string): number {
  const seen = new Set<unknown>();
  for (const row of rows) {
    const v = row[column];
    if (v !== null && v !== undefined && v !== '') seen.add(v);
    if (seen.size > 4096) break;
  }
  return seen.size;
}

/** The column that feeds a feature, or undefined when the dataset has none. */
function columnOf(
  d: FeatureDescriptor,
  spec: FeatureSpec,
  rows: readonly DataRow[],
): string | undefined {
  const present = (key: string) => rows.some((r) => has(r, key));
  if (present(d.name)) return d.name;
  if (d.role.type === 'column') {
    const entry = spec.inputs.find((e) => e.input === d.tensor && e.kind === 'tabular');
    const bare = entry?.kind === 'tabular' ? entry.columns[d.role.index] : undefined;
    if (bare !== undefined && present(bare)) return bare;
  }
  return undefined;
}

/** Build a (reference) profile from dataset rows; see the module comment for the column mapping. */
export function profileFromRows(
  rows: readonly DataRow[],
  spec: FeatureSpec,
  opts: ProfileFromRowsOptions = {},
): Result<Profile> {
  const checked = checkFeatureSpec(spec);
  if (!checked.ok) return checked;
  const features: [string, FeatureSketch][] = [];
  for (const d of checked.value) {
    const column = columnOf(d, spec, rows);
    if (column === undefined) {
      if (d.role.type === 'column') {
        return fail(
          'EF_MALFORMED',
          `The reference dataset has no column for feature "${d.name}".`,
          {
            feature: d.name,
          },
        );
      }
      continue;
    }
    const output = spec.outputs.find((e) => e.output === d.tensor && e.kind === 'classifier');
    const classes = output?.kind === 'classifier' ? output.classes : undefined;
    const sketch =
      d.kind === 'numeric'
        ? emptyFeatureSketch('numeric', opts)
        : emptyFeatureSketch('categorical', {
            ...opts,
            maxItems: categoricalCapacity(
              Math.max(classes?.length ?? 0, distinct(rows, column)),
              opts,
            ),
          });
    if (sketch.kind === 'numeric') {
      for (let i = 0; i < rows.length; i++) {
        const cell = numericCell(rows[i]![column]);
        if (!cell.ok) {
          return fail(
            'EF_MALFORMED',
            `Row ${i + 1}, column "${column}": expected a number or an empty cell.`,
            { row: i + 1, column },
          );
        }
        updateNumericFeature(sketch, cell.value);
      }
    } else {
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i]![column];
        if (v === null || v === undefined || v === '') continue;
        if (typeof v === 'string') {
          sketch.items.update(v);
        } else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
          sketch.items.update(classes?.[v] ?? String(v));
        } else {
          return fail(
            'EF_MALFORMED',
            `Row ${i + 1}, column "${column}": expected a class label or class index.`,
            { row: i + 1, column },
          );
        }
      }
    }
    features.push([d.name, sketch]);
  }
  return ok(new Profile(features, opts.window));
}
