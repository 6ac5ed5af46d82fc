/** Parsers for `ipmitool fru print`, `mc info`, `mc guid` and `lan print`. */
import { IpmitoolParseError, keyValues, meaningful } from "./parse-common.ts";

export interface FruDevice {
  readonly description: string;
  /** FRU device id from "(ID n)", when printed. */
  readonly id?: number;
  /** Field name → value, e.g. "Product Serial" → "CN7016…"; repeated fields ("Board Extra") keep the first. */
  readonly fields: ReadonlyMap<string, string>;
}

/**
 * `fru print`: one block per FRU device, each opened by "FRU Device Description : … (ID n)". Output of
 * `fru print 0` without the header line (some BMCs, older ipmitool) is one anonymous block.
 */
export function parseFruPrint(text: string): FruDevice[] {
  const devices: FruDevice[] = [];
  let current: { description: string; id?: number; lines: string[] } | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const fields = new Map<string, string>();
    for (const [key, value] of keyValues(current.lines.join("\n"))) {
      if (meaningful(value) !== undefined) fields.set(key, value);
    }
    devices.push({
      description: current.description,
      ...(current.id !== undefined ? { id: current.id } : {}),
      fields,
    });
  };
  for (const line of text.split(/\r?\n/)) {
    const header = /^FRU Device Description\s*:\s*(.*?)\s*$/.exec(line);
    if (header !== null) {
      flush();
      const description = header[1] ?? "";
      const id = /\(ID (\d+)\)/.exec(description)?.[1];
      current = { description, ...(id !== undefined ? { id: Number(id) } : {}), lines: [] };
      continue;
    }
    if (current === undefined) {
      if (line.trim() === "") continue;
      current = { description: "", lines: [] };
    }
    current.lines.push(line);
  }
  flush();
  return devices.filter((d) => d.fields.size > 0);
}

export interface SystemFru {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly serial?: string;
  readonly sku?: string;
  readonly boardManufacturer?: string;
  readonly boardProduct?: string;
  readonly boardSerial?: string;
  readonly chassisSerial?: string;
  readonly assetTag?: string;
}

/**
 * The system's identity from its built-in FRU (ID 0): product fields first, board and chassis fields
 * where the product area is empty (Dell C-series, HPE iLO 3 leave some of them blank).
 */
export function systemFru(devices: readonly FruDevice[]): SystemFru {
  const builtin = devices.find((d) => d.id === 0) ?? devices[0];
  if (builtin === undefined) return {};
  const get = (key: string): string | undefined => meaningful(builtin.fields.get(key));
  const entries: Array<[keyof SystemFru, string | undefined]> = [
    ["manufacturer", get("Product Manufacturer") ?? get("Board Mfg")],
    ["model", get("Product Name") ?? get("Board Product")],
    ["serial", get("Product Serial") ?? get("Chassis Serial") ?? get("Board Serial")],
    ["sku", get("Product Part Number")],
    ["boardManufacturer", get("Board Mfg")],
    ["boardProduct", get("Board Product")],
    ["boardSerial", get("Board Serial")],
    ["chassisSerial", get("Chassis Serial")],
    ["assetTag", get("Product Asset Tag")],
  ];
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as SystemFru;
}

export interface McInfo {
  readonly firmwareRevision: string;
  readonly ipmiVersion?: string;
  readonly manufacturerId?: number;
  readonly manufacturerName?: string;
  readonly productId?: number;
}

/** `mc info` (Get Device ID). */
export function parseMcInfo(text: string): McInfo {
  const values = keyValues(text);
  const firmwareRevision = values.get("Firmware Revision")?.trim();
  if (!firmwareRevision) throw new IpmitoolParseError('mc info has no "Firmware Revision"');
  const manufacturerId = /^\d+/.exec(values.get("Manufacturer ID") ?? "")?.[0];
  const productId = /^\d+/.exec(values.get("Product ID") ?? "")?.[0];
  const manufacturerName = meaningful(values.get("Manufacturer Name"));
  const ipmiVersion = meaningful(values.get("IPMI Version"));
  return {
    firmwareRevision,
    ...(ipmiVersion !== undefined ? { ipmiVersion } : {}),
    ...(manufacturerId !== undefined ? { manufacturerId: Number(manufacturerId) } : {}),
    ...(manufacturerName !== undefined && !/^Unknown/i.test(manufacturerName) ? { manufacturerName } : {}),
    ...(productId !== undefined ? { productId: Number(productId) } : {}),
  };
}

/** `mc guid`: the System GUID as ipmitool decodes it, lower case; undefined when the BMC reports zeros. */
export function parseMcGuid(text: string): string | undefined {
  const guid =
    /GUID\s*:\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/.exec(
      text,
    )?.[1];
  if (guid === undefined) throw new IpmitoolParseError("mc guid has no GUID");
  return meaningful(guid) === undefined ? undefined : guid.toLowerCase();
}

export interface LanConfig {
  readonly macAddress?: string;
  readonly ipAddress?: string;
  readonly ipSource?: string;
}

/** `lan print [channel]`. */
export function parseLanPrint(text: string): LanConfig {
  const values = keyValues(text);
  const mac = values.get("MAC Address");
  if (mac === undefined) throw new IpmitoolParseError('lan print has no "MAC Address"');
  const macAddress = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac) ? meaningful(mac)?.toLowerCase() : undefined;
  const ipAddress = meaningful(values.get("IP Address"));
  const ipSource = meaningful(values.get("IP Address Source"));
  return {
    ...(macAddress !== undefined ? { macAddress } : {}),
    ...(ipAddress !== undefined ? { ipAddress } : {}),
    ...(ipSource !== undefined ? { ipSource } : {}),
  };
}
