/**
 * System identity and memory modules from SMBIOS: `dmidecode` first, `/sys/class/dmi/id/*` when
 * dmidecode is missing or finds no table. VMs without DMI tables have neither, which is not an error:
 * the fields stay empty and the server identifies the machine by its MAC.
 */
import type { Dimm, SystemInfo } from "../../src/protocol/inventory.ts";
import {
  cleanIdentifier,
  cleanText,
  compact,
  normalizeUuid,
  parseSize,
  toCount,
  Warnings,
} from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, runTool } from "./probe.ts";

export interface DmiInventory {
  readonly system: SystemInfo;
  readonly dimms: readonly Dimm[];
  /** Memory device structures, empty slots included; undefined when DMI has none. */
  readonly slotCount?: number;
  /** Processor structures whose socket is populated. */
  readonly populatedSockets?: number;
}

interface DmiStructure {
  readonly type: number;
  readonly fields: ReadonlyMap<string, string>;
}

const HANDLE_LINE = /^Handle 0x[0-9A-Fa-f]+, DMI type (\d+), \d+ bytes$/;

/** Splits dmidecode's text into structures: a Handle line, a title line, then tab-indented `Key: Value`. */
function structures(text: string): DmiStructure[] {
  const found: DmiStructure[] = [];
  let current: { type: number; fields: Map<string, string> } | undefined;
  for (const line of text.split(/\r?\n/)) {
    const handle = HANDLE_LINE.exec(line);
    if (handle !== null) {
      current = { type: Number(handle[1]), fields: new Map() };
      found.push(current);
      continue;
    }
    if (current === undefined || !line.startsWith("\t") || line.startsWith("\t\t")) continue;
    const separator = line.indexOf(":");
    if (separator < 0) continue;
    const key = line.slice(1, separator).trim();
    if (!current.fields.has(key)) current.fields.set(key, line.slice(separator + 1).trim());
  }
  return found;
}

/** `MM/DD/YYYY` (what SMBIOS specifies) becomes ISO `YYYY-MM-DD`; anything else is kept as given. */
export function normalizeBiosDate(value: unknown): string | undefined {
  const text = cleanIdentifier(value);
  if (text === undefined) return undefined;
  const match = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(text);
  return match === null ? text : `${match[3]}-${match[1]}-${match[2]}`;
}

/** "3200 MT/s", "2933 MHz" (older dmidecode says MHz for the same number), "Unknown". */
function parseSpeed(value: string | undefined): number | undefined {
  const match = /^(\d+)\s*(MT\/s|MHz)$/.exec(value ?? "");
  return match === null ? undefined : toCount(match[1]);
}

function systemFrom(all: readonly DmiStructure[]): SystemInfo {
  const first = (type: number) => all.find((s) => s.type === type)?.fields ?? new Map<string, string>();
  const bios = first(0);
  const system = first(1);
  const board = first(2);
  const chassis = first(3);
  return compact<SystemInfo>({
    manufacturer: cleanText(system.get("Manufacturer")),
    productName: cleanText(system.get("Product Name")),
    family: cleanText(system.get("Family")),
    serialNumber: cleanIdentifier(system.get("Serial Number")),
    uuid: normalizeUuid(system.get("UUID")),
    sku: cleanText(system.get("SKU Number")),
    biosVendor: cleanText(bios.get("Vendor")),
    biosVersion: cleanIdentifier(bios.get("Version")),
    biosDate: normalizeBiosDate(bios.get("Release Date")),
    chassisSerial: cleanIdentifier(chassis.get("Serial Number")),
    boardManufacturer: cleanText(board.get("Manufacturer")),
    boardProduct: cleanText(board.get("Product Name")),
    boardSerial: cleanIdentifier(board.get("Serial Number")),
  });
}

function dimmFrom(fields: ReadonlyMap<string, string>, warnings: Warnings): Dimm | undefined {
  const size = fields.get("Size") ?? "";
  if (/^(No Module Installed|Not Installed|0 [MG]B|Unknown)$/i.test(size) || size === "") return undefined;
  const sizeBytes = parseSize(size);
  if (sizeBytes === undefined) {
    warnings.add(`memory device ${fields.get("Locator") ?? "?"}: size "${size}" not understood`);
    return undefined;
  }
  return compact<Dimm>({
    locator: cleanIdentifier(fields.get("Locator")),
    bankLocator: cleanIdentifier(fields.get("Bank Locator")),
    sizeBytes,
    type: cleanIdentifier(fields.get("Type")),
    formFactor: cleanIdentifier(fields.get("Form Factor")),
    speedMts: parseSpeed(fields.get("Speed")),
    configuredSpeedMts: parseSpeed(
      fields.get("Configured Memory Speed") ?? fields.get("Configured Clock Speed"),
    ),
    manufacturer: cleanText(fields.get("Manufacturer")),
    serialNumber: cleanIdentifier(fields.get("Serial Number")),
    partNumber: cleanIdentifier(fields.get("Part Number")),
  });
}

/** Parses `dmidecode` text output (all types). */
export function parseDmidecode(text: string): ParseResult<DmiInventory> {
  const warnings = new Warnings();
  const all = structures(text);
  if (all.length === 0) {
    warnings.add("dmidecode found no SMBIOS/DMI table (usual in VMs without DMI)");
    return parsed({ system: {}, dimms: [] }, warnings.list, "empty");
  }
  const memoryDevices = all.filter((s) => s.type === 17);
  const dimms = memoryDevices.flatMap((s) => dimmFrom(s.fields, warnings) ?? []);
  const processors = all.filter((s) => s.type === 4);
  const populatedSockets = processors.filter((s) =>
    (s.fields.get("Status") ?? "").startsWith("Populated"),
  ).length;
  return parsed(
    compact<DmiInventory>({
      system: systemFrom(all),
      dimms,
      slotCount: memoryDevices.length > 0 ? memoryDevices.length : undefined,
      populatedSockets: processors.length > 0 ? populatedSockets : undefined,
    }),
    warnings.list,
  );
}

/** The `/sys/class/dmi/id` files the fallback reads (serials and UUID need root). */
export const SYSFS_DMI_FILES = [
  "sys_vendor",
  "product_name",
  "product_family",
  "product_serial",
  "product_uuid",
  "product_sku",
  "bios_vendor",
  "bios_version",
  "bios_date",
  "chassis_serial",
  "board_vendor",
  "board_name",
  "board_serial",
] as const;

export type SysfsDmiFiles = Partial<Record<(typeof SYSFS_DMI_FILES)[number], string>>;

/** Parses the contents of `/sys/class/dmi/id/*` (one value per file). */
export function parseSysfsDmi(files: SysfsDmiFiles): ParseResult<SystemInfo> {
  const system = compact<SystemInfo>({
    manufacturer: cleanText(files.sys_vendor),
    productName: cleanText(files.product_name),
    family: cleanText(files.product_family),
    serialNumber: cleanIdentifier(files.product_serial),
    uuid: normalizeUuid(files.product_uuid),
    sku: cleanText(files.product_sku),
    biosVendor: cleanText(files.bios_vendor),
    biosVersion: cleanIdentifier(files.bios_version),
    biosDate: normalizeBiosDate(files.bios_date),
    chassisSerial: cleanIdentifier(files.chassis_serial),
    boardManufacturer: cleanText(files.board_vendor),
    boardProduct: cleanText(files.board_name),
    boardSerial: cleanIdentifier(files.board_serial),
  });
  if (Object.keys(system).length === 0) {
    return parsed(system, ["/sys/class/dmi/id has no identity values"], "empty");
  }
  return parsed(system);
}

const SYSFS_DMI_DIR = "/sys/class/dmi/id";

async function probeSysfsDmi(context: ProbeContext): Promise<SystemInfo> {
  const name = "dmi-sysfs";
  const started = performance.now();
  const files: SysfsDmiFiles = {};
  const problems: string[] = [];
  let found = 0;
  for (const file of SYSFS_DMI_FILES) {
    const result = await context.files.read(`${SYSFS_DMI_DIR}/${file}`, context.signal);
    if (result.kind === "ok") {
      files[file] = result.text;
      found += 1;
    } else if (result.kind === "failed") {
      problems.push(result.message);
    }
  }
  const base = { command: `read ${SYSFS_DMI_DIR}/*`, durationMs: Math.round(performance.now() - started) };
  if (found === 0) {
    context.recorder.record(name, {
      ...base,
      status: problems.length > 0 ? "failed" : "missing",
      warnings: problems.length > 0 ? problems : [`${SYSFS_DMI_DIR}: not present (no DMI tables)`],
    });
    return {};
  }
  const result = parseSysfsDmi(files);
  const text = Object.entries(files)
    .map(([file, value]) => `${file}: ${value.trim()}`)
    .join("\n");
  context.recorder.record(name, {
    ...base,
    status: result.status,
    warnings: [...problems, ...result.warnings],
    output: { contentType: "text/plain", text },
  });
  return result.value;
}

/** dmidecode, then the sysfs fallback for what dmidecode could not give. */
export async function probeDmi(context: ProbeContext): Promise<DmiInventory> {
  const output = await runTool(context, {
    name: "dmidecode",
    command: "dmidecode",
    args: [],
    contentType: "text/plain",
  });
  if (output !== undefined) {
    const result = parseDmidecode(output.stdout);
    output.finish(result);
    if (result.status === "ok") return result.value;
  }
  return { system: await probeSysfsDmi(context), dimms: [] };
}
