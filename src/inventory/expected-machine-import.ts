/**
 * Bulk import of expected machines, the pure part: CSV or JSON in, typed rows or row-level errors out
 * (`rows[3].bmcMac: is not a MAC address`). What needs the database (unknown racks and profiles, clashes
 * with stored machines) is checked by the service, in the transaction that writes.
 */
import { parse as parseCsv } from "csv-parse/sync";
import type { TSchema } from "typebox";
import { Value } from "typebox/value";
import { ValidationError } from "../errors.ts";
import { type ImportRowInput, ImportRowSchema, MAX_IMPORT_ROWS } from "./expected-machine-model.ts";
import type { BmcProtocol, Labels } from "./inventory-tables.ts";
import { LABEL_KEY_PATTERN, MAX_LABELS } from "./labels.ts";
import { normalizeMac } from "./mac-address.ts";
import { checkHardwareSpec, type HardwareSpec } from "./spec-profile-model.ts";

export interface RowError {
  readonly field: string;
  readonly message: string;
}

/** An import row that passed every check that needs no database; MAC normalised, absent fields null. */
export interface ImportRow {
  readonly index: number;
  readonly serial: string | null;
  readonly bmcMac: string | null;
  readonly bmcAddress: string | null;
  readonly bmcProtocol: BmcProtocol | null;
  readonly bmcUsername: string | null;
  readonly bmcPassword: string | null;
  readonly specProfile: string | null;
  readonly spec: HardwareSpec | null;
  readonly rack: string | null;
  readonly slot: number | null;
  readonly hostname: string | null;
  readonly labels: Labels;
}

/** CSV columns, in the order the documentation lists them; headers match ignoring case, spaces, - and _. */
export const CSV_COLUMNS = [
  "serial",
  "bmcMac",
  "bmcAddress",
  "bmcProtocol",
  "bmcUsername",
  "bmcPassword",
  "specProfile",
  "rack",
  "slot",
  "hostname",
  "labels",
] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];

/** A row as it came in, before validation: `line` is its CSV line, for messages. */
export interface RawRow {
  readonly index: number;
  readonly line?: number;
  readonly values: unknown;
}

export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errors: RowError[] };

const rowField = (index: number, name?: string): string =>
  name === undefined ? `rows[${index}]` : `rows[${index}].${name}`;

const columnKey = (header: string): string => header.toLowerCase().replace(/[\s_-]/g, "");
const COLUMN_BY_KEY = new Map<string, CsvColumn>(CSV_COLUMNS.map((column) => [columnKey(column), column]));

/**
 * A CSV file with a header row naming the columns (any subset of CSV_COLUMNS, in any order). Empty
 * cells are absent values. `labels` is `key=value` pairs separated by `;`. Cells are trimmed, except
 * the password, whose spaces may be part of it.
 */
export function rowsFromCsv(text: string): Parsed<RawRow[]> {
  let records: Array<{ info: { lines: number }; record: string[] }>;
  try {
    records = parseCsv(text, {
      bom: true,
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
    }) as unknown as Array<{ info: { lines: number }; record: string[] }>;
  } catch (error) {
    // csv-parse quotes the offending cell in its message, and that cell may be a password: keep only
    // the kind of error and where it is.
    const { code, lines } = error as { code?: unknown; lines?: unknown };
    const where = typeof lines === "number" ? ` on line ${lines}` : "";
    const what = typeof code === "string" ? code : "unreadable";
    return { ok: false, errors: [{ field: "body", message: `is not valid CSV (${what}${where})` }] };
  }
  const [header, ...body] = records;
  if (header === undefined) return { ok: false, errors: [{ field: "rows", message: "the file is empty" }] };
  const errors: RowError[] = [];
  const columns: Array<CsvColumn | undefined> = header.record.map((cell) => {
    const column = COLUMN_BY_KEY.get(columnKey(cell.trim()));
    if (column === undefined) {
      errors.push({
        field: `header.${cell.trim()}`,
        message: `is not a known column; the columns are ${CSV_COLUMNS.join(", ")}`,
      });
    }
    return column;
  });
  const seen = new Set<CsvColumn>();
  for (const column of columns) {
    if (column === undefined) continue;
    if (seen.has(column)) errors.push({ field: `header.${column}`, message: "appears twice" });
    seen.add(column);
  }
  if (errors.length > 0) return { ok: false, errors };

  const rows: RawRow[] = [];
  body.forEach(({ info, record }, index) => {
    if (record.length !== columns.length) {
      errors.push({
        field: rowField(index),
        message: `has ${record.length} fields where the header has ${columns.length} (line ${info.lines})`,
      });
      return;
    }
    const values: Record<string, unknown> = {};
    record.forEach((raw, position) => {
      const column = columns[position];
      if (column === undefined) return;
      const cell = column === "bmcPassword" ? raw : raw.trim();
      if (cell === "") return;
      if (column === "slot") values.slot = /^\d{1,9}$/.test(cell) ? Number(cell) : cell;
      else if (column === "labels") {
        const labels = parseLabelCell(cell);
        if (labels.ok) values.labels = labels.value;
        else
          errors.push(
            ...labels.errors.map((e) => ({ field: rowField(index, "labels"), message: e.message })),
          );
      } else values[column] = cell;
    });
    rows.push({ index, line: info.lines, values });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: rows };
}

function parseLabelCell(cell: string): Parsed<Labels> {
  const labels: Labels = {};
  for (const part of cell.split(";")) {
    const pair = part.trim();
    if (pair === "") continue;
    const split = pair.indexOf("=");
    const key = split < 0 ? "" : pair.slice(0, split).trim();
    if (split < 0 || !new RegExp(LABEL_KEY_PATTERN).test(key)) {
      return {
        ok: false,
        errors: [{ field: "labels", message: `"${pair}" is not key=value (pairs separated by ;)` }],
      };
    }
    labels[key] = pair.slice(split + 1).trim();
  }
  if (Object.keys(labels).length > MAX_LABELS)
    return { ok: false, errors: [{ field: "labels", message: `has more than ${MAX_LABELS} labels` }] };
  return { ok: true, value: labels };
}

/** A JSON array of row objects; null members count as absent. */
export function rowsFromJson(body: readonly unknown[]): Parsed<RawRow[]> {
  const errors: RowError[] = [];
  const rows: RawRow[] = [];
  body.forEach((item, index) => {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      errors.push({ field: rowField(index), message: "must be an object" });
      return;
    }
    const values = Object.fromEntries(Object.entries(item).filter(([, value]) => value !== null));
    rows.push({ index, values });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: rows };
}

/** Every check that needs no database: types and formats, required pairs, duplicates inside the file. */
export function validateImportRows(raw: readonly RawRow[]): Parsed<ImportRow[]> {
  if (raw.length === 0) return { ok: false, errors: [{ field: "rows", message: "the file has no rows" }] };
  if (raw.length > MAX_IMPORT_ROWS) {
    return {
      ok: false,
      errors: [{ field: "rows", message: `has ${raw.length} rows; at most ${MAX_IMPORT_ROWS} per import` }],
    };
  }
  const errors: RowError[] = [];
  const rows: ImportRow[] = [];
  const serials = new Map<string, number>();
  const macs = new Map<string, number>();
  for (const { index, line, values } of raw) {
    const where = line === undefined ? "" : ` (line ${line})`;
    const schemaErrors = schemaErrorsOf(ImportRowSchema, values, index);
    if (schemaErrors.length > 0) {
      errors.push(...schemaErrors.map((e) => ({ field: e.field, message: `${e.message}${where}` })));
      continue;
    }
    const input = values as ImportRowInput;
    const rowErrors: RowError[] = [];
    const fail = (name: string, message: string): void => {
      rowErrors.push({ field: rowField(index, name), message: `${message}${where}` });
    };
    const bmcMac = input.bmcMac === undefined ? null : (normalizeMac(input.bmcMac) ?? null);
    if (input.serial === undefined && bmcMac === null) fail("serial", "a row needs a serial or a bmcMac");
    if (input.bmcUsername !== undefined && input.bmcPassword === undefined)
      fail("bmcPassword", "is required with bmcUsername");
    if (input.bmcPassword !== undefined && input.bmcUsername === undefined)
      fail("bmcUsername", "is required with bmcPassword");
    if (input.spec !== undefined && input.specProfile !== undefined)
      fail("spec", "give either an inline spec or a specProfile, not both");
    if (input.spec !== undefined) {
      try {
        checkHardwareSpec(input.spec, rowField(index, "spec"));
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        rowErrors.push({ field: error.field, message: `${error.message}${where}` });
      }
    }
    if (input.serial !== undefined) {
      const first = serials.get(input.serial);
      if (first !== undefined) fail("serial", `duplicates the serial of rows[${first}]`);
      else serials.set(input.serial, index);
    }
    if (bmcMac !== null) {
      const first = macs.get(bmcMac);
      if (first !== undefined) fail("bmcMac", `duplicates the BMC MAC address of rows[${first}]`);
      else macs.set(bmcMac, index);
    }
    if (rowErrors.length > 0) {
      errors.push(...rowErrors);
      continue;
    }
    rows.push({
      index,
      serial: input.serial ?? null,
      bmcMac,
      bmcAddress: input.bmcAddress ?? null,
      bmcProtocol: input.bmcProtocol ?? null,
      bmcUsername: input.bmcUsername ?? null,
      bmcPassword: input.bmcPassword ?? null,
      specProfile: input.specProfile ?? null,
      spec: input.spec ?? null,
      rack: input.rack ?? null,
      slot: input.slot ?? null,
      hostname: input.hostname ?? null,
      labels: input.labels ?? {},
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: rows };
}

/** Friendlier words than "must match pattern ^…$" for the fields people get wrong in files. */
const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  bmcMac: "is not a MAC address (aa:bb:cc:dd:ee:ff)",
  hostname: "is not a host name",
  serial: "must not be blank or start or end with spaces",
  rack: "is not a rack name (lower-case letters, digits, . _ -)",
  specProfile: "is not a profile name (lower-case letters, digits, . _ -)",
  bmcAddress: "is not a host name or IP address",
};

function schemaErrorsOf<T extends TSchema>(schema: T, value: unknown, index: number): RowError[] {
  if (Value.Check(schema, value)) return [];
  const found = new Map<string, string>();
  for (const issue of Value.Errors(schema, value)) {
    const path = issue.instancePath
      .split("/")
      .filter((segment) => segment !== "")
      .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
    const params = issue.params as Record<string, unknown>;
    if (issue.keyword === "additionalProperties") {
      const names = Array.isArray(params.additionalProperties) ? params.additionalProperties : [];
      for (const name of names)
        found.set(rowField(index, [...path, String(name)].join(".")), "is not a known field");
      continue;
    }
    if (issue.keyword === "required") {
      const names = Array.isArray(params.requiredProperties) ? params.requiredProperties : [];
      for (const name of names) found.set(rowField(index, [...path, String(name)].join(".")), "is required");
      continue;
    }
    const field = rowField(index, path.length === 0 ? undefined : path.join("."));
    if (found.has(field)) continue;
    if (issue.keyword === "boolean") found.set(field, "is not a known field");
    else if (
      issue.keyword === "pattern" &&
      path.length === 1 &&
      PATTERN_MESSAGES[path[0] ?? ""] !== undefined
    )
      found.set(field, PATTERN_MESSAGES[path[0] ?? ""] ?? issue.message);
    else if (issue.keyword === "propertyNames" || (issue.keyword === "pattern" && path[0] === "labels"))
      found.set(rowField(index, "labels"), "has a label key that is not letters, digits and . _ / -");
    else found.set(field, issue.message);
  }
  return [...found].map(([field, message]) => ({ field, message }));
}
