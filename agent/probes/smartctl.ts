/** `smartctl -j -a /dev/X`: identity and a health summary for ATA, SCSI/SAS and NVMe drives. */
import type { SmartSummary } from "../../src/protocol/inventory.ts";
import { cleanIdentifier, cleanText, compact, toCount, Warnings } from "./normalize.ts";
import type { ParseResult } from "./probe.ts";

export interface SmartctlDisk {
  readonly protocol?: "ATA" | "SCSI" | "NVMe";
  readonly model?: string;
  readonly serialNumber?: string;
  readonly wwn?: string;
  readonly firmwareVersion?: string;
  readonly sizeBytes?: number;
  /** 0 for solid state, the spindle speed for disks. */
  readonly rotationRpm?: number;
  readonly smart?: SmartSummary;
}

/**
 * smartctl's exit status is a bit mask: bits 0-1 mean it could not run or open the device (no data);
 * higher bits report drive conditions (failing, errors logged) alongside complete output.
 */
export function smartctlOutputUsable(exitCode: number): boolean {
  return (exitCode & 0b11) === 0;
}

/** Exit status bits that come with complete output but say something about the drive. */
const EXIT_STATUS_WARNINGS: ReadonlyArray<readonly [number, string]> = [
  [1 << 2, "some SMART or ATA commands to the disk failed"],
  [1 << 3, "SMART status check returned DISK FAILING"],
  [1 << 4, "a prefail attribute is at or below its threshold"],
  [1 << 5, "a usage attribute was at or below its threshold in the past"],
  [1 << 6, "the device error log contains records of errors"],
  [1 << 7, "the self-test log contains records of errors"],
];

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function hex(value: unknown, digits: number): string | undefined {
  const count = toCount(value);
  return count === undefined ? undefined : count.toString(16).padStart(digits, "0");
}

/** The NAA identifier as lsblk prints it (0x5000cca264c6d5e4). */
function ataWwn(value: unknown): string | undefined {
  const wwn = object(value);
  if (wwn === undefined) return undefined;
  const naa = hex(wwn.naa, 1);
  const oui = hex(wwn.oui, 6);
  const id = hex(wwn.id, 9);
  return naa && oui && id ? `0x${naa}${oui}${id}` : undefined;
}

function ataAttributeRaw(document: Json, id: number): number | undefined {
  const table = object(document.ata_smart_attributes)?.table;
  if (!Array.isArray(table)) return undefined;
  const attribute = table.map(object).find((entry) => entry?.id === id);
  return toCount(object(attribute?.raw)?.value);
}

function scsiUncorrected(document: Json): number | undefined {
  const log = object(document.scsi_error_counter_log);
  if (log === undefined) return undefined;
  const counts = ["read", "write", "verify"].flatMap(
    (kind) => toCount(object(log[kind])?.total_uncorrected_errors) ?? [],
  );
  return counts.length > 0 ? counts.reduce((sum, count) => sum + count, 0) : undefined;
}

function protocolOf(document: Json): SmartctlDisk["protocol"] {
  const protocol = object(document.device)?.protocol;
  return protocol === "ATA" || protocol === "SCSI" || protocol === "NVMe" ? protocol : undefined;
}

/** Parses the JSON of `smartctl -j -a`. Never throws, whatever the input. */
export function parseSmartctlJson(text: string): ParseResult<SmartctlDisk> {
  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(text);
  } catch {
    return { value: {}, status: "unparseable", warnings: ["smartctl output is not JSON"] };
  }
  const document = object(parsedJson);
  const smartctl = object(document?.smartctl);
  if (document === undefined || smartctl === undefined) {
    return { value: {}, status: "unparseable", warnings: ["not smartctl JSON output"] };
  }
  const warnings = new Warnings();
  const messages = Array.isArray(smartctl.messages) ? smartctl.messages : [];
  for (const message of messages) {
    const line = object(message);
    if (typeof line?.string === "string") warnings.add(`smartctl: ${line.string}`);
  }
  const exitStatus = toCount(smartctl.exit_status) ?? 0;
  if (!smartctlOutputUsable(exitStatus)) {
    if (messages.length === 0) warnings.add(`smartctl could not read the device (exit status ${exitStatus})`);
    return { value: {}, status: "failed", warnings: warnings.list };
  }
  for (const [bit, meaning] of EXIT_STATUS_WARNINGS) {
    if (exitStatus & bit) warnings.add(`smartctl: ${meaning}`);
  }

  const protocol = protocolOf(document);
  const nvmeLog = object(document.nvme_smart_health_information_log);
  const smartStatus = object(document.smart_status);
  const scsiVendorProduct = [document.scsi_vendor, document.scsi_product].filter(
    (part) => typeof part === "string",
  );
  const firstNamespace = Array.isArray(document.nvme_namespaces)
    ? object(document.nvme_namespaces[0])
    : undefined;

  const smart = compact<SmartSummary>({
    passed: typeof smartStatus?.passed === "boolean" ? smartStatus.passed : undefined,
    powerOnHours: toCount(object(document.power_on_time)?.hours),
    temperatureCelsius: ((value) => (Number.isSafeInteger(value) ? (value as number) : undefined))(
      object(document.temperature)?.current,
    ),
    mediaErrors: protocol === "NVMe" ? toCount(nvmeLog?.media_errors) : scsiUncorrected(document),
    reallocatedSectors:
      protocol === "SCSI" ? toCount(document.scsi_grown_defect_list) : ataAttributeRaw(document, 5),
    pendingSectors: protocol === "ATA" ? ataAttributeRaw(document, 197) : undefined,
    percentageUsed: toCount(nvmeLog?.percentage_used),
  });

  const disk = compact<SmartctlDisk>({
    protocol,
    model:
      cleanText(document.model_name) ??
      cleanText(document.scsi_model_name) ??
      cleanText(scsiVendorProduct.join(" ")),
    serialNumber: cleanIdentifier(document.serial_number),
    wwn: ataWwn(document.wwn) ?? cleanIdentifier(document.logical_unit_id),
    firmwareVersion: cleanIdentifier(document.firmware_version) ?? cleanIdentifier(document.scsi_revision),
    sizeBytes:
      toCount(object(document.user_capacity)?.bytes) ??
      toCount(document.nvme_total_capacity) ??
      toCount(object(firstNamespace?.size)?.bytes),
    rotationRpm: toCount(document.rotation_rate),
    smart: Object.keys(smart).length > 0 ? smart : undefined,
  });
  return { value: disk, status: "ok", warnings: warnings.list };
}
