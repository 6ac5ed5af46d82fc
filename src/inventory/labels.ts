import { type RawBuilder, sql } from "kysely";
import { Type } from "typebox";
import type { Labels } from "./inventory-tables.ts";

export const LABEL_KEY_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$";
export const MAX_LABELS = 64;

export const LabelsSchema = Type.Record(Type.String(), Type.String({ maxLength: 256 }), {
  propertyNames: { pattern: LABEL_KEY_PATTERN },
  maxProperties: MAX_LABELS,
  description: "free-form key/value labels; keys are letters, digits and . _ / -",
});

/** `label=row` (has the key) or `label=row=a` (key equals value); repeat to require several. */
export const LabelFilterField = Type.Optional(
  Type.Array(Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}(=.{0,256})?$" }), {
    maxItems: 16,
    description: "label selector, `key` or `key=value`; repeat the parameter to require several",
  }),
);

/** The SQL condition that the row's labels match every selector. */
export function labelsMatch(column: RawBuilder<unknown>, selectors: readonly string[]): RawBuilder<boolean> {
  const conditions = selectors.map((selector) => {
    const split = selector.indexOf("=");
    if (split < 0) return sql<boolean>`${column} ? ${selector}`;
    const wanted: Labels = { [selector.slice(0, split)]: selector.slice(split + 1) };
    return sql<boolean>`${column} @> ${JSON.stringify(wanted)}::jsonb`;
  });
  return sql<boolean>`(${sql.join(conditions, sql` AND `)})`;
}
