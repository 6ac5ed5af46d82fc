import { type Static, type TSchema, Type } from "typebox";
import { Value } from "typebox/value";
import { ValidationError } from "../errors.ts";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** Query fields every list endpoint accepts. */
export const PageQueryFields = {
  limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE }),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: "opaque cursor from `nextCursor`" })),
};

/** `sort=field` or `sort=-field` (descending), restricted to the fields an endpoint can sort by. */
export function SortQueryField(fields: readonly string[]) {
  return Type.Optional(
    Type.String({
      pattern: `^-?(${fields.join("|")})$`,
      description: `sort by ${fields.join(", ")}; prefix with - for descending`,
    }),
  );
}

export function PageSchema<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: "pass as `cursor` for the next page; null on the last page",
    }),
  });
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/** Cursors are opaque to clients: base64url JSON of the last row's sort key. */
export function encodeCursor(key: Readonly<Record<string, string | number>>): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodeCursor<T extends TSchema>(cursor: string | undefined, shape: T): Static<T> | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new ValidationError(
      "pagination.invalid_cursor",
      "is not a cursor this server issued",
      "querystring.cursor",
    );
  }
  if (!Value.Check(shape, parsed)) {
    throw new ValidationError(
      "pagination.invalid_cursor",
      "is not a cursor this server issued",
      "querystring.cursor",
    );
  }
  return parsed as Static<T>;
}

/** Takes `limit + 1` rows, returns `limit` and a cursor built from the last returned row when more exist. */
export function pageOf<Row, Item>(
  rows: readonly Row[],
  limit: number,
  toItem: (row: Row) => Item,
  cursorOf: (row: Row) => Readonly<Record<string, string | number>>,
): Page<Item> {
  const visible = rows.slice(0, limit);
  const last = visible.at(-1);
  return {
    items: visible.map(toItem),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null,
  };
}
