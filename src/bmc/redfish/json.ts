/**
 * Narrowing helpers for Redfish documents. BMCs put nulls, empty strings and padded strings where the
 * schema promises values, so every accessor treats those as "not reported".
 */

export type RedfishDocument = Readonly<Record<string, unknown>>;

export function isDocument(value: unknown): value is RedfishDocument {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: firmware pads strings with NULs and other control characters
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** A trimmed, non-empty string without control characters (firmware pads with NULs), or undefined. */
export function stringOf(doc: RedfishDocument | undefined, key: string): string | undefined {
  const value = doc?.[key];
  if (typeof value !== "string") return undefined;
  const trimmed = value.replace(CONTROL_CHARACTERS, " ").trim();
  return trimmed === "" ? undefined : trimmed;
}

export function numberOf(doc: RedfishDocument | undefined, key: string): number | undefined {
  const value = doc?.[key];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function booleanOf(doc: RedfishDocument | undefined, key: string): boolean | undefined {
  const value = doc?.[key];
  return typeof value === "boolean" ? value : undefined;
}

export function documentOf(doc: RedfishDocument | undefined, key: string): RedfishDocument | undefined {
  const value = doc?.[key];
  return isDocument(value) ? value : undefined;
}

export function arrayOf(doc: RedfishDocument | undefined, key: string): readonly unknown[] {
  const value = doc?.[key];
  return Array.isArray(value) ? value : [];
}

export function stringsOf(doc: RedfishDocument | undefined, key: string): string[] | undefined {
  const value = doc?.[key];
  if (!Array.isArray(value)) return undefined;
  return value.filter((item): item is string => typeof item === "string");
}

/**
 * Normalises a resource URI to a path: absolute URLs lose their origin, fragments (`#/PowerControl/0`)
 * and trailing slashes (bmcweb's `/redfish/v1/SessionService/`) are dropped.
 */
export function normalizePath(uri: string): string {
  let path = uri.trim();
  if (/^https?:\/\//i.test(path)) {
    const url = new URL(path);
    path = url.pathname + url.search;
  }
  const hash = path.indexOf("#");
  if (hash >= 0) path = path.slice(0, hash);
  while (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return path;
}

/** The `@odata.id` of a link object (`{ "@odata.id": "..." }`), normalised. */
export function linkPath(link: unknown): string | undefined {
  if (!isDocument(link)) return undefined;
  const id = link["@odata.id"];
  return typeof id === "string" && id.trim() !== "" ? normalizePath(id) : undefined;
}

/** The link stored under `key` of a document. */
export function linkOf(doc: RedfishDocument | undefined, key: string): string | undefined {
  return linkPath(doc?.[key]);
}

/** The links stored as an array under `key` (e.g. `Links.Chassis`, `Drives`). */
export function linksOf(doc: RedfishDocument | undefined, key: string): string[] {
  return arrayOf(doc, key)
    .map((item) => linkPath(item))
    .filter((path): path is string => path !== undefined);
}

export function odataId(doc: RedfishDocument): string | undefined {
  return linkPath(doc);
}

/** True when a collection member is only a link (the BMC did not expand it). */
export function isLinkOnly(doc: RedfishDocument): boolean {
  return Object.keys(doc).every((key) => key.startsWith("@odata."));
}

export function statusOf(doc: RedfishDocument | undefined): { state?: string; health?: string } {
  const status = documentOf(doc, "Status");
  const state = stringOf(status, "State");
  const health = stringOf(status, "Health");
  return { ...(state !== undefined ? { state } : {}), ...(health !== undefined ? { health } : {}) };
}

/** Absent components (empty DIMM slots, unpopulated fan bays) are listed by BMCs but are not hardware. */
export function isAbsent(doc: RedfishDocument | undefined): boolean {
  return statusOf(doc).state === "Absent";
}

export function mapHealth(health: string | undefined): "ok" | "warning" | "critical" | "unknown" {
  switch (health) {
    case "OK":
      return "ok";
    case "Warning":
      return "warning";
    case "Critical":
      return "critical";
    default:
      return "unknown";
  }
}

/** Drops keys whose value is undefined so results honour "fields the BMC does not report are absent". */
export function compact<T extends Record<string, unknown>>(value: T): T {
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) result[key] = item;
  }
  return result as T;
}
