/**
 * What every inventory list shares: a client-chosen sort (`sort=name`, `sort=-createdAt`), keyset
 * pagination on it with the row id as tie-breaker (src/db/keyset.ts), and an opaque cursor that
 * remembers which sort it belongs to, so a cursor cannot be replayed against another order.
 */
import { type RawBuilder, sql } from "kysely";
import { Type } from "typebox";
import { type KeysetPosition, parseSort, type SortDirection } from "../db/keyset.ts";
import { ValidationError } from "../errors.ts";
import { decodeCursor, type Page, pageOf } from "../http/pagination.ts";

const ListCursor = Type.Object({ s: Type.String(), v: Type.String(), id: Type.String() });

export interface ListQuery {
  readonly limit: number;
  readonly cursor?: string | undefined;
  readonly sort?: string | undefined;
}

export interface ListPlan<F extends string> {
  readonly field: F;
  readonly direction: SortDirection;
  /** The canonical `sort` text (`name`, `-createdAt`), stored in the cursor. */
  readonly key: string;
  readonly after: KeysetPosition | undefined;
  /** rows to fetch: one more than the page, to know whether another page follows */
  readonly fetch: number;
  readonly limit: number;
}

export function planList<F extends string>(
  query: ListQuery,
  fields: readonly F[],
  fallback: { field: F; direction: SortDirection },
): ListPlan<F> {
  const { field, direction } = parseSort(query.sort, fields, fallback);
  const key = `${direction === "desc" ? "-" : ""}${field}`;
  const cursor = decodeCursor(query.cursor, ListCursor);
  if (cursor !== undefined && cursor.s !== key) {
    throw new ValidationError(
      "pagination.cursor_sort_mismatch",
      `was issued for sort=${cursor.s}, not sort=${key}`,
      "querystring.cursor",
    );
  }
  return {
    field,
    direction,
    key,
    after: cursor === undefined ? undefined : { v: cursor.v, id: cursor.id },
    fetch: query.limit + 1,
    limit: query.limit,
  };
}

/** The page of rows fetched with `plan.fetch`; each row carries its `sort_value` (see sortValueText). */
export function keysetPage<Row extends { readonly sort_value: string }, Item>(
  rows: readonly Row[],
  plan: ListPlan<string>,
  idOf: (row: Row) => string,
  toItem: (row: Row) => Item,
): Page<Item> {
  return pageOf(rows, plan.limit, toItem, (row) => ({ s: plan.key, v: row.sort_value, id: idOf(row) }));
}

/** Case-insensitive substring match of `q` in any of the columns. */
export function textSearch(columns: readonly RawBuilder<unknown>[], q: string): RawBuilder<boolean> {
  const pattern = `%${q.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
  return sql<boolean>`(${sql.join(
    columns.map((column) => sql`coalesce(${column}, '') ILIKE ${pattern}`),
    sql` OR `,
  )})`;
}

export const SearchQueryField = Type.Optional(
  Type.String({ minLength: 1, maxLength: 200, description: "case-insensitive substring search" }),
);
