/**
 * Disks: `lsblk -J -O -b` lists them, `smartctl -j -a` adds health (and identity lsblk lacks),
 * `nvme list -o json` fills NVMe serials and firmware when smartctl cannot.
 */
import type { Disk, DiskKind } from "../../src/protocol/inventory.ts";
import { LIMITS } from "../../src/protocol/inventory.ts";
import { cleanIdentifier, cleanText, compact, isDeviceName, toCount, Warnings } from "./normalize.ts";
import { type ParseResult, type ProbeContext, parsed, runTool } from "./probe.ts";
import { parseSmartctlJson, type SmartctlDisk } from "./smartctl.ts";

/** What lsblk knows about a whole disk. */
export interface BlockDisk {
  readonly name: string;
  readonly model?: string;
  readonly serialNumber?: string;
  readonly wwn?: string;
  readonly firmwareVersion?: string;
  readonly sizeBytes: number;
  readonly rotational: boolean;
  readonly transport?: string;
}

/** Kernel devices that look like disks but hold no hardware: compressed RAM, RAM disks, loops. */
const VIRTUAL_DISK = /^(zram|ram|loop|nbd)\d*/;

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** lsblk prints booleans as true/false, older versions as "0"/"1" or 0/1. */
function flag(value: unknown): boolean | undefined {
  if (value === true || value === "1" || value === 1) return true;
  if (value === false || value === "0" || value === 0) return false;
  return undefined;
}

/** Parses `lsblk -J -O -b`: whole disks only, without zram/ram/loop devices or empty (size 0) media. */
export function parseLsblkJson(text: string): ParseResult<BlockDisk[]> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return parsed([], ["lsblk output is not JSON"], "unparseable");
  }
  const devices = object(document)?.blockdevices;
  if (!Array.isArray(devices)) return parsed([], ["lsblk output has no blockdevices"], "unparseable");
  const warnings = new Warnings();
  const disks: BlockDisk[] = [];
  for (const entry of devices) {
    const device = object(entry);
    if (device === undefined || device.type !== "disk") continue;
    const name = device.kname ?? device.name;
    if (!isDeviceName(name)) {
      warnings.add(`lsblk: skipped a disk with an unusable name (${String(name).slice(0, 64)})`);
      continue;
    }
    if (VIRTUAL_DISK.test(name)) continue;
    const sizeBytes = toCount(device.size);
    if (sizeBytes === undefined || sizeBytes === 0) continue;
    disks.push(
      compact<BlockDisk>({
        name,
        model: cleanText(device.model),
        serialNumber: cleanIdentifier(device.serial),
        wwn: cleanIdentifier(device.wwn),
        firmwareVersion: cleanIdentifier(device.rev),
        sizeBytes,
        rotational: flag(device.rota) ?? false,
        transport: cleanIdentifier(device.tran),
      }),
    );
  }
  if (disks.length > LIMITS.disks) warnings.add(`lsblk: ${disks.length} disks, reporting ${LIMITS.disks}`);
  return parsed(disks.slice(0, LIMITS.disks), warnings.list, disks.length === 0 ? "empty" : "ok");
}

export interface NvmeNamespace {
  /** Kernel name of the namespace block device (nvme0n1). */
  readonly name: string;
  readonly model?: string;
  readonly serialNumber?: string;
  readonly firmwareVersion?: string;
  readonly sizeBytes?: number;
}

/** Parses `nvme list -o json` (nvme-cli 1.x and 2.x simple list). */
export function parseNvmeList(text: string): ParseResult<NvmeNamespace[]> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return parsed([], ["nvme list output is not JSON"], "unparseable");
  }
  const devices = object(document)?.Devices;
  if (!Array.isArray(devices)) return parsed([], ["nvme list output has no Devices"], "unparseable");
  const namespaces = devices.flatMap((entry): NvmeNamespace[] => {
    const device = object(entry);
    const name =
      typeof device?.DevicePath === "string" ? device.DevicePath.replace(/^\/dev\//, "") : undefined;
    if (device === undefined || !isDeviceName(name)) return [];
    return [
      compact<NvmeNamespace>({
        name,
        model: cleanText(device.ModelNumber),
        serialNumber: cleanIdentifier(device.SerialNumber),
        firmwareVersion: cleanIdentifier(device.Firmware),
        sizeBytes: toCount(device.PhysicalSize),
      }),
    ];
  });
  return parsed(namespaces, [], namespaces.length === 0 ? "empty" : "ok");
}

function kindOf(disk: BlockDisk, smart: SmartctlDisk | undefined): DiskKind {
  if (disk.transport === "nvme" || disk.name.startsWith("nvme") || smart?.protocol === "NVMe") return "nvme";
  if (smart?.rotationRpm !== undefined) return smart.rotationRpm > 0 ? "hdd" : "ssd";
  return disk.rotational ? "hdd" : "ssd";
}

/** One disk from what lsblk, smartctl and nvme-cli said about it; lsblk wins where they disagree. */
export function mergeDisk(disk: BlockDisk, smart?: SmartctlDisk, nvme?: NvmeNamespace): Disk {
  const kind = kindOf(disk, smart);
  return compact<Disk>({
    name: disk.name,
    model: disk.model ?? smart?.model ?? nvme?.model,
    serialNumber: disk.serialNumber ?? smart?.serialNumber ?? nvme?.serialNumber,
    wwn: disk.wwn ?? smart?.wwn,
    firmwareVersion: disk.firmwareVersion ?? smart?.firmwareVersion ?? nvme?.firmwareVersion,
    sizeBytes: disk.sizeBytes,
    rotational: kind === "hdd",
    transport: disk.transport ?? (kind === "nvme" ? "nvme" : undefined),
    kind,
    smart: smart?.smart,
  });
}

/** How many smartctl processes run at once: some HBAs serialize their commands anyway. */
const SMARTCTL_CONCURRENCY = 4;

async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size) {
    results.push(...(await Promise.all(items.slice(start, start + size).map(work))));
  }
  return results;
}

async function smartctlFor(context: ProbeContext, disk: BlockDisk): Promise<SmartctlDisk | undefined> {
  const output = await runTool(context, {
    name: `smartctl:${disk.name}`,
    command: "smartctl",
    args: ["-j", "-a", `/dev/${disk.name}`],
    contentType: "application/json",
    slow: true,
    // The JSON says what went wrong, even when the exit status says it did.
    usableExit: () => true,
  });
  if (output === undefined) return undefined;
  const result = parseSmartctlJson(output.stdout);
  output.finish(result);
  return result.status === "ok" ? result.value : undefined;
}

async function nvmeNamespaces(context: ProbeContext): Promise<Map<string, NvmeNamespace>> {
  const output = await runTool(context, {
    name: "nvme-list",
    command: "nvme",
    args: ["list", "-o", "json"],
    contentType: "application/json",
  });
  if (output === undefined) return new Map();
  const result = parseNvmeList(output.stdout);
  output.finish(result);
  return new Map(result.value.map((namespace) => [namespace.name, namespace]));
}

export async function probeDisks(context: ProbeContext): Promise<Disk[]> {
  const output = await runTool(context, {
    name: "lsblk",
    command: "lsblk",
    args: ["-J", "-O", "-b"],
    contentType: "application/json",
  });
  if (output === undefined) return [];
  const result = parseLsblkJson(output.stdout);
  output.finish(result);
  const disks = result.value;
  const hasNvme = disks.some((disk) => disk.name.startsWith("nvme") || disk.transport === "nvme");
  const [smart, nvme] = await Promise.all([
    inBatches(disks, SMARTCTL_CONCURRENCY, (disk) => smartctlFor(context, disk)),
    hasNvme ? nvmeNamespaces(context) : Promise.resolve(new Map<string, NvmeNamespace>()),
  ]);
  return disks.map((disk, index) => mergeDisk(disk, smart[index], nvme.get(disk.name)));
}
