import { type RawBuilder, sql } from "kysely";

/**
 * Keyset pagination over any sortable expression plus the row id as tie-breaker, so pages stay stable
 * while rows are added. The sort expression must be non-null (wrap nullable columns in coalesce).
 */
export type SortDirection = "asc" | "desc";

export interface KeysetPosition {
  /** value of the sort expression in the last row of the previous page */
  readonly v: string | number;
  readonly id: string;
}

/** `(expr, id) > (v, id0)` for ascending order, `<` for descending: "after the cursor". */
export function afterPosition(
  expression: RawBuilder<unknown>,
  idColumn: string,
  direction: SortDirection,
  position: KeysetPosition,
  /** SQL type of the id column; tables keyed by something else (a MAC address) pass "text". */
  idType: "uuid" | "text" = "uuid",
): RawBuilder<boolean> {
  const operator = direction === "asc" ? sql`>` : sql`<`;
  return sql<boolean>`(${expression}, ${sql.ref(idColumn)}) ${operator} (${position.v}, ${position.id}::${sql.raw(idType)})`;
}

/**
 * The sort expression of a row as text, for its cursor. Exact for any type (a timestamp keeps its
 * microseconds, which a JavaScript Date would drop), and PostgreSQL reads it back as the expression's
 * type when `afterPosition` compares it.
 */
export function sortValueText(expression: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`(${expression})::text`;
}

/** Parses `name` / `-name` (descending) against the sortable fields an endpoint allows. */
export function parseSort<F extends string>(
  raw: string | undefined,
  allowed: readonly F[],
  fallback: { field: F; direction: SortDirection },
): { field: F; direction: SortDirection } {
  if (raw === undefined) return fallback;
  const direction: SortDirection = raw.startsWith("-") ? "desc" : "asc";
  const name = raw.replace(/^-/, "");
  const field = allowed.find((candidate) => candidate === name);
  return field === undefined ? fallback : { field, direction };
}
