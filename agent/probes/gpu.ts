/**
 * GPUs: `nvidia-smi -q -x` for NVIDIA boards (model, serial, UUID, memory, bus id, VBIOS, driver), its
 * `--query-gpu` CSV when the XML is unusable, and bare PCI identities from lspci when nvidia-smi is
 * absent (no driver in the image, or not an NVIDIA board).
 */
import { parse as parseCsv } from "csv-parse/sync";
import { XMLParser } from "fast-xml-parser";
import type { Gpu, PciDevice } from "../../src/protocol/inventory.ts";
import { LIMITS } from "../../src/protocol/inventory.ts";
import {
  cleanIdentifier,
  cleanText,
  compact,
  normalizePciAddress,
  parseSize,
  Warnings,
} from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, runTool } from "./probe.ts";

type Xml = Record<string, unknown>;

function element(value: unknown): Xml | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Xml) : undefined;
}

function nvidiaGpu(fields: {
  model: unknown;
  serial: unknown;
  uuid: unknown;
  memory: unknown;
  busId: unknown;
  vbios: unknown;
  driver: unknown;
}): Gpu {
  return compact<Gpu>({
    vendor: "NVIDIA",
    model: cleanText(fields.model),
    serialNumber: cleanIdentifier(fields.serial),
    uuid: cleanIdentifier(fields.uuid),
    memoryBytes: parseSize(fields.memory),
    pciBusId: normalizePciAddress(fields.busId),
    vbiosVersion: cleanIdentifier(fields.vbios),
    driverVersion: cleanIdentifier(fields.driver),
  });
}

/** Parses `nvidia-smi -q -x`. */
export function parseNvidiaSmiXml(text: string): ParseResult<Gpu[]> {
  let document: unknown;
  try {
    const parser = new XMLParser({
      ignoreAttributes: false,
      parseTagValue: false,
      isArray: (name) => name === "gpu",
    });
    document = parser.parse(text);
  } catch {
    return parsed([], ["nvidia-smi XML could not be parsed"], "unparseable");
  }
  const log = element(element(document)?.nvidia_smi_log);
  if (log === undefined) return parsed([], ["not nvidia-smi XML output (no nvidia_smi_log)"], "unparseable");
  const gpus = (Array.isArray(log.gpu) ? log.gpu : []).flatMap((entry): Gpu[] => {
    const gpu = element(entry);
    if (gpu === undefined) return [];
    return [
      nvidiaGpu({
        model: gpu.product_name,
        serial: gpu.serial,
        uuid: gpu.uuid,
        memory: element(gpu.fb_memory_usage)?.total,
        busId: element(gpu.pci)?.pci_bus_id ?? gpu["@_id"],
        vbios: gpu.vbios_version,
        driver: log.driver_version,
      }),
    ];
  });
  return parsed(gpus.slice(0, LIMITS.gpus), [], gpus.length === 0 ? "empty" : "ok");
}

/** The columns {@link NVIDIA_SMI_QUERY_ARGS} asks for. */
const QUERY_FIELDS = [
  "uuid",
  "name",
  "serial",
  "pci.bus_id",
  "memory.total",
  "driver_version",
  "vbios_version",
];
export const NVIDIA_SMI_QUERY_ARGS = [`--query-gpu=${QUERY_FIELDS.join(",")}`, "--format=csv"];

/**
 * Parses `nvidia-smi --query-gpu=… --format=csv` (with its header line, whose names carry units:
 * `memory.total [MiB]`), whatever the column order.
 */
export function parseNvidiaSmiQueryCsv(text: string): ParseResult<Gpu[]> {
  let rows: string[][];
  try {
    rows = parseCsv(text, { trim: true, skip_empty_lines: true, relax_column_count: true });
  } catch {
    return parsed([], ["nvidia-smi CSV could not be parsed"], "unparseable");
  }
  const [header, ...records] = rows;
  const columns = (header ?? []).map((name) => name.replace(/\s*\[.*\]$/, ""));
  if (!columns.includes("uuid") && !columns.includes("name")) {
    return parsed([], ["nvidia-smi CSV has no uuid or name column"], "unparseable");
  }
  const warnings = new Warnings();
  const gpus = records.map((record) => {
    const value = (name: string): string | undefined => {
      const index = columns.indexOf(name);
      return index < 0 ? undefined : record[index];
    };
    if (record.length !== columns.length) warnings.add("nvidia-smi CSV: a row has a different column count");
    return nvidiaGpu({
      model: value("name"),
      serial: value("serial"),
      uuid: value("uuid"),
      memory: value("memory.total"),
      busId: value("pci.bus_id"),
      vbios: value("vbios_version"),
      driver: value("driver_version"),
    });
  });
  return parsed(gpus.slice(0, LIMITS.gpus), warnings.list, gpus.length === 0 ? "empty" : "ok");
}

/** Display and 3D controllers, except the small on-board VGA of BMCs (ASPEED, Matrox). */
const BMC_VIDEO_VENDORS = new Set(["1a03", "102b"]);

/** GPUs as lspci sees them, for machines where nvidia-smi told us nothing. */
export function gpusFromPci(devices: readonly PciDevice[]): Gpu[] {
  return devices
    .filter((device) => device.classId?.startsWith("03") && !BMC_VIDEO_VENDORS.has(device.vendorId ?? ""))
    .slice(0, LIMITS.gpus)
    .map((device) =>
      compact<Gpu>({ vendor: device.vendorName, model: device.deviceName, pciBusId: device.slot }),
    );
}

export async function probeNvidiaGpus(context: ProbeContext): Promise<Gpu[]> {
  const xml = await runTool(context, {
    name: "nvidia-smi",
    command: "nvidia-smi",
    args: ["-q", "-x"],
    contentType: "application/xml",
    slow: true,
  });
  if (xml === undefined) return [];
  const fromXml = parseNvidiaSmiXml(xml.stdout);
  xml.finish(fromXml);
  if (fromXml.status !== "unparseable") return fromXml.value;
  const csv = await runTool(context, {
    name: "nvidia-smi-query",
    command: "nvidia-smi",
    args: NVIDIA_SMI_QUERY_ARGS,
    contentType: "text/plain",
    slow: true,
  });
  if (csv === undefined) return [];
  const fromCsv = parseNvidiaSmiQueryCsv(csv.stdout);
  csv.finish(fromCsv);
  return fromCsv.value;
}
