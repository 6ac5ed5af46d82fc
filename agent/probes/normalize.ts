/**
 * Turning whatever a tool printed into protocol values: trimmed, bounded strings with firmware
 * placeholders removed, lower-case MAC and PCI addresses, safe integers. Everything returns undefined
 * for "unknown" so that the inventory leaves the field out.
 */
import {
  DEVICE_NAME_PATTERN,
  HARDWARE_ADDRESS_PATTERN,
  LIMITS,
  MAC_ADDRESS_PATTERN,
  SYSTEM_UUID_PATTERN,
} from "../../src/protocol/inventory.ts";

/** Values firmware and drivers print when they have nothing to say. */
const PLACEHOLDERS = new Set([
  "",
  "-",
  "0123456789",
  "123456789",
  "1234567890",
  "n/a",
  "[n/a]",
  "[not supported]",
  "na",
  "none",
  "null",
  "not specified",
  "not available",
  "not applicable",
  "not provided",
  "not present",
  "not installed",
  "no module installed",
  "unknown",
  "default string",
  "to be filled by o.e.m.",
  "to be filled by oem",
  "o.e.m.",
  "oem",
  "system serial number",
  "system product name",
  "system manufacturer",
  "system version",
  "base board serial number",
  "chassis serial number",
  "type1productconfigid",
  "type1family",
  "sku",
  "family",
]);

/** UUIDs that firmware ships on every board when nobody programmed one. */
const PLACEHOLDER_UUIDS = new Set([
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  "03000200-0400-0500-0006-000700080009",
]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

function truncate(value: string, maxLength: number): string {
  if (value.length <= maxLength) return value;
  // Never leave half of a surrogate pair at the end.
  const cut = value.slice(0, maxLength);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** A bounded, single-line string, or undefined for empty values and firmware placeholders. */
export function cleanText(value: unknown, maxLength: number = LIMITS.name): string | undefined {
  if (typeof value === "number" && Number.isFinite(value)) value = String(value);
  if (typeof value !== "string") return undefined;
  const text = value.replace(CONTROL_CHARACTERS, " ").replace(/\s+/g, " ").trim();
  if (PLACEHOLDERS.has(text.toLowerCase()) || /^0+$/.test(text)) return undefined;
  return truncate(text, maxLength);
}

export function cleanIdentifier(value: unknown): string | undefined {
  return cleanText(value, LIMITS.identifier);
}

/** A bounded message for a probe warning. */
export function warningText(text: string): string {
  return truncate(text.replace(CONTROL_CHARACTERS, " ").trim(), LIMITS.message);
}

/** Non-negative safe integer from a number or a numeric string ("16", " 4 "); anything else undefined. */
export function toCount(value: unknown): number | undefined {
  const number =
    typeof value === "number"
      ? value
      : typeof value === "string" && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : NaN;
  return Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}

/** Finite number from a number or a decimal string ("2100.000"). */
export function toNumber(value: unknown): number | undefined {
  const number =
    typeof value === "number"
      ? value
      : typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value)
        ? Number(value)
        : NaN;
  return Number.isFinite(number) ? number : undefined;
}

const MAC_RE = new RegExp(MAC_ADDRESS_PATTERN);
const HARDWARE_ADDRESS_RE = new RegExp(HARDWARE_ADDRESS_PATTERN);
const UUID_RE = new RegExp(SYSTEM_UUID_PATTERN);
const DEVICE_NAME_RE = new RegExp(DEVICE_NAME_PATTERN);

function hexOctets(value: string): string | undefined {
  const compact = value.trim().toLowerCase().replace(/[-:.]/g, "");
  if (!/^[0-9a-f]+$/.test(compact) || compact.length % 2 !== 0) return undefined;
  return compact.match(/../g)?.join(":");
}

/** 48-bit MAC in `aa:bb:cc:dd:ee:ff` form (accepts `-`, `:` or `.` separators); all-zero is unknown. */
export function normalizeMac(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const mac = hexOctets(value);
  if (mac === undefined || !MAC_RE.test(mac) || /^(00:){5}00$/.test(mac)) return undefined;
  return mac;
}

/** Ethernet or InfiniBand link-layer address. */
export function normalizeHardwareAddress(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const address = hexOctets(value);
  if (address === undefined || !HARDWARE_ADDRESS_RE.test(address) || /^(00:)+00$/.test(address)) {
    return undefined;
  }
  return address;
}

/** `0000:17:00.0` from `17:00.0`, `00000000:17:00.0` (nvidia-smi) or `0000:17:00.0`. */
export function normalizePciAddress(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(value.trim());
  if (match === null) return undefined;
  const [, domain = "0", bus = "", device = "", fn = ""] = match;
  const shortDomain = domain.toLowerCase().replace(/^0+/, "").padStart(4, "0");
  return `${shortDomain}:${bus.toLowerCase()}:${device.toLowerCase()}.${fn}`;
}

export function normalizeUuid(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const uuid = value.trim().toLowerCase();
  return UUID_RE.test(uuid) && !PLACEHOLDER_UUIDS.has(uuid) ? uuid : undefined;
}

export function isDeviceName(value: unknown): value is string {
  return typeof value === "string" && DEVICE_NAME_RE.test(value);
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Bytes from "32 GB", "16384 MB", "81559 MiB", "512 kB" (binary units, as dmidecode and nvidia-smi mean). */
export function parseSize(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(value);
  if (match === null) return undefined;
  const unit = SIZE_UNITS[(match[2] ?? "").toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The object without its undefined fields: the protocol leaves unknown fields out. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** Records the warnings of a parser as it goes. */
export class Warnings {
  readonly list: string[] = [];
  add(message: string): void {
    if (this.list.length < LIMITS.warningsPerProbe) this.list.push(warningText(message));
  }
}
