/** Parsing of the inventory documents (ComputerSystem, Processor, Memory, EthernetInterface, Drive, …). */
import type { BmcDrive, BmcNic, FirmwareComponent } from "../driver.ts";
import {
  booleanOf,
  compact,
  documentOf,
  isAbsent,
  numberOf,
  type RedfishDocument,
  statusOf,
  stringOf,
} from "./json.ts";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

export interface CpuSummary {
  readonly model?: string;
  readonly cores?: number;
  readonly threads?: number;
}

export function normalizeMac(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const hex = value.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
  if (hex.length !== 12 || /^0+$/.test(hex) || /^f+$/.test(hex)) return undefined;
  return hex.match(/../g)?.join(":");
}

export function parseProcessor(doc: RedfishDocument): CpuSummary | undefined {
  const type = stringOf(doc, "ProcessorType");
  if ((type !== undefined && type !== "CPU") || isAbsent(doc)) return undefined;
  return compact({
    model: stringOf(doc, "Model"),
    cores: numberOf(doc, "TotalCores"),
    threads: numberOf(doc, "TotalThreads"),
  });
}

/** Bytes reported by the system's MemorySummary; undefined when it says nothing useful (0 on OpenBMC). */
export function memoryFromSummary(system: RedfishDocument): number | undefined {
  const gib = numberOf(documentOf(system, "MemorySummary"), "TotalSystemMemoryGiB");
  return gib !== undefined && gib > 0 ? Math.round(gib * GIB) : undefined;
}

export function memoryModuleBytes(doc: RedfishDocument): number {
  if (isAbsent(doc)) return 0;
  const mib = numberOf(doc, "CapacityMiB");
  return mib !== undefined && mib > 0 ? mib * MIB : 0;
}

export function parseNic(doc: RedfishDocument): BmcNic | undefined {
  const mac = normalizeMac(stringOf(doc, "MACAddress") ?? stringOf(doc, "PermanentMACAddress"));
  if (mac === undefined) return undefined;
  const link = stringOf(doc, "LinkStatus");
  return compact({
    mac,
    name: stringOf(doc, "Name") ?? stringOf(doc, "Id"),
    speedMbps: numberOf(doc, "SpeedMbps"),
    linkUp: link === "LinkUp" ? true : link === "LinkDown" || link === "NoLink" ? false : undefined,
  });
}

/**
 * The BMC's own network port: the first enabled manager interface, skipping host interfaces (the
 * USB/virtual NIC iLO and others expose to the host OS).
 */
export function pickBmcMac(interfaces: readonly RedfishDocument[]): string | undefined {
  for (const doc of interfaces) {
    if (booleanOf(doc, "InterfaceEnabled") === false) continue;
    if (statusOf(doc).state === "Disabled") continue;
    if (documentOf(documentOf(doc, "Links"), "HostInterface") !== undefined) continue;
    const mac = normalizeMac(stringOf(doc, "MACAddress") ?? stringOf(doc, "PermanentMACAddress"));
    if (mac !== undefined) return mac;
  }
  return undefined;
}

export function parseDrive(doc: RedfishDocument): BmcDrive | undefined {
  if (isAbsent(doc)) return undefined;
  const media = stringOf(doc, "MediaType");
  const protocol = stringOf(doc, "Protocol");
  const mediaType: BmcDrive["mediaType"] =
    protocol === "NVMe" ? "nvme" : media === "HDD" ? "hdd" : media === "SSD" ? "ssd" : "unknown";
  return compact({
    model: stringOf(doc, "Model"),
    serial: stringOf(doc, "SerialNumber"),
    sizeBytes: numberOf(doc, "CapacityBytes"),
    mediaType,
  });
}

export function parseFirmware(doc: RedfishDocument): FirmwareComponent | undefined {
  const id = stringOf(doc, "Id");
  const version = stringOf(doc, "Version");
  if (id === undefined || version === undefined) return undefined;
  return compact({
    id,
    name: stringOf(doc, "Name") ?? id,
    version,
    updateable: booleanOf(doc, "Updateable"),
  });
}
