/**
 * Machines: compute nodes known to Ingot. Their lifecycle (below) decides what they boot (src/boot/ipxe.ts)
 * and what controllers and operators may do next. The normalized inventory is the agent protocol's
 * HardwareInventory; the summary and diff here are pure functions over it.
 */
import { createHash } from "node:crypto";
import type { Disk, Gpu, HardwareInventory, Nic } from "../protocol/inventory.ts";
import { defineLifecycle } from "../statemachine/lifecycle.ts";
import { defineStateMachine } from "../statemachine/model.ts";

export type MachineState =
  | { readonly kind: "enrolled" }
  | { readonly kind: "vetting" }
  | { readonly kind: "ready" }
  | { readonly kind: "provisioning" }
  | { readonly kind: "deployed" }
  | { readonly kind: "held"; readonly reason: string; readonly heldFrom: string }
  | { readonly kind: "retired" };

export type MachineStateKind = MachineState["kind"];

export const MachineStates = defineStateMachine<MachineState>()({
  name: "machine",
  states: ["enrolled", "vetting", "ready", "provisioning", "deployed", "held", "retired"],
  initial: ["enrolled"],
  terminal: ["retired"],
  transitions: {
    enrolled: { start_vetting: "vetting", mark_ready: "ready", hold: "held", retire: "retired" },
    vetting: { vetting_passed: "ready", vetting_failed: "held", hold: "held" },
    ready: { start_vetting: "vetting", provision: "provisioning", hold: "held", retire: "retired" },
    provisioning: { provisioned: "deployed", provisioning_failed: "held", hold: "held" },
    deployed: { release: "vetting", hold: "held" },
    held: { release_hold: "enrolled", retire: "retired" },
  },
  slaSeconds: { vetting: 6 * 3600, provisioning: 3600 },
});

export const MachineLifecycle = defineLifecycle({ entity: "machine", states: MachineStates });

/** Events an operator may fire through the API; the others belong to controllers and agents. */
export const OPERATOR_MACHINE_EVENTS = ["mark_ready", "hold", "release_hold", "retire"] as const;
export type OperatorMachineEvent = (typeof OPERATOR_MACHINE_EVENTS)[number];

/** The state an operator event leads to; `hold` remembers where the machine was held from. */
export function stateAfterOperatorEvent(
  current: MachineState,
  event: OperatorMachineEvent,
  reason: string | undefined,
): MachineState {
  const next = MachineStates.next(current.kind, event);
  if (next === "held")
    return { kind: "held", reason: reason ?? "held by an operator", heldFrom: current.kind };
  return { kind: next } as MachineState;
}

/** What a kernel, initrd and command line a ready machine boots: artifact names or absolute URLs. */
export interface BootImage {
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
}

export interface MachineSummary {
  cpuModel: string | null;
  cpuSockets: number | null;
  cpuCores: number | null;
  cpuThreads: number | null;
  memoryBytes: number | null;
  disks: Array<{
    name: string;
    model: string | null;
    serialNumber: string | null;
    sizeBytes: number;
    kind: Disk["kind"];
  }>;
  nics: Array<{
    name: string;
    macAddress: string | null;
    speedMbps: number | null;
    driver: string | null;
  }>;
  gpus: Array<{
    model: string | null;
    serialNumber: string | null;
    uuid: string | null;
    memoryBytes: number | null;
  }>;
  bmcAddress: string | null;
  bmcMac: string | null;
}

export function summarize(inventory: HardwareInventory): MachineSummary {
  return {
    cpuModel: inventory.cpu.model ?? null,
    cpuSockets: inventory.cpu.sockets ?? null,
    cpuCores: inventory.cpu.cores ?? null,
    cpuThreads: inventory.cpu.threads ?? null,
    memoryBytes: inventory.memory.totalBytes ?? inventory.memory.installedBytes ?? null,
    disks: inventory.disks.map((disk) => ({
      name: disk.name,
      model: disk.model ?? null,
      serialNumber: disk.serialNumber ?? null,
      sizeBytes: disk.sizeBytes,
      kind: disk.kind,
    })),
    nics: inventory.nics.map((nic) => ({
      name: nic.name,
      macAddress: nic.macAddress ?? null,
      speedMbps: nic.speedMbps ?? null,
      driver: nic.driver ?? null,
    })),
    gpus: inventory.gpus.map((gpu) => ({
      model: gpu.model ?? null,
      serialNumber: gpu.serialNumber ?? null,
      uuid: gpu.uuid ?? null,
      memoryBytes: gpu.memoryBytes ?? null,
    })),
    bmcAddress: inventory.bmc?.ipAddress ?? null,
    bmcMac: inventory.bmc?.macAddress ?? null,
  };
}

/**
 * The hardware as it should be compared between enrollments: readings that change from boot to boot
 * (temperatures, power-on hours, link state, addresses, negotiated speeds) are left out, and lists are
 * sorted by identity so the order tools print them in does not matter.
 */
export function comparableInventory(inventory: HardwareInventory): Record<string, unknown> {
  const disks = inventory.disks
    .map((disk) => {
      const { smart, ...rest } = disk;
      return { ...rest, smartPassed: smart?.passed };
    })
    .sort(byKey((disk) => diskKey(disk)));
  const nics = inventory.nics
    .map(({ linkUp, addresses, speedMbps, mtu, ...rest }) => rest)
    .sort(byKey((nic) => nicKey(nic)));
  return {
    system: inventory.system,
    cpu: { ...inventory.cpu, mhz: undefined },
    memory: {
      ...inventory.memory,
      dimms: [...inventory.memory.dimms].sort(byKey((d) => `${d.locator ?? ""}/${d.bankLocator ?? ""}`)),
    },
    disks,
    nics,
    gpus: [...inventory.gpus].sort(byKey((gpu) => gpuKey(gpu))),
    pciDevices: [...inventory.pciDevices].sort(byKey((device) => device.slot)),
    bmc: inventory.bmc === undefined ? undefined : { macAddress: inventory.bmc.macAddress },
  };
}

/** Stable digest of the comparable inventory: equal digests mean nothing worth recording changed. */
export function inventoryDigest(inventory: HardwareInventory): string {
  return createHash("sha256")
    .update(canonicalJson(comparableInventory(inventory)))
    .digest("hex");
}

export interface InventoryChange {
  /** `disks[serial=S3Z9NB0K]`, `memory.totalBytes`, `nics[mac=52:54:00:00:00:01].driver` */
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
}

/** Field-level differences between two inventories, with list items matched by their identity. */
export function diffInventories(before: HardwareInventory, after: HardwareInventory): InventoryChange[] {
  const changes: InventoryChange[] = [];
  diffValue("", comparableInventory(before), comparableInventory(after), changes);
  return changes;
}

const LIST_KEYS: Record<string, (item: Record<string, unknown>) => string> = {
  disks: (item) => diskKey(item as unknown as Disk),
  nics: (item) => nicKey(item as unknown as Nic),
  gpus: (item) => gpuKey(item as unknown as Gpu),
  pciDevices: (item) => `slot=${String(item.slot)}`,
  "memory.dimms": (item) => `locator=${String(item.locator ?? "?")}/${String(item.bankLocator ?? "")}`,
};

function diffValue(path: string, before: unknown, after: unknown, changes: InventoryChange[]): void {
  if (canonicalJson(before) === canonicalJson(after)) return;
  const keyOf = LIST_KEYS[path];
  if (Array.isArray(before) && Array.isArray(after) && keyOf !== undefined) {
    const index = (items: unknown[]) =>
      new Map(items.map((item) => [keyOf(item as Record<string, unknown>), item] as const));
    const old = index(before);
    const now = index(after);
    for (const key of new Set([...old.keys(), ...now.keys()])) {
      diffValue(`${path}[${key}]`, old.get(key), now.get(key), changes);
    }
    return;
  }
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      diffValue(path === "" ? key : `${path}.${key}`, before[key], after[key], changes);
    }
    return;
  }
  changes.push({ path, before: before ?? null, after: after ?? null });
}

function diskKey(disk: Pick<Disk, "serialNumber" | "wwn" | "name">): string {
  if (disk.serialNumber !== undefined) return `serial=${disk.serialNumber}`;
  if (disk.wwn !== undefined) return `wwn=${disk.wwn}`;
  return `name=${disk.name}`;
}

function nicKey(nic: Pick<Nic, "macAddress" | "name">): string {
  return nic.macAddress !== undefined ? `mac=${nic.macAddress}` : `name=${nic.name}`;
}

function gpuKey(gpu: Pick<Gpu, "uuid" | "serialNumber" | "pciBusId">): string {
  if (gpu.uuid !== undefined) return `uuid=${gpu.uuid}`;
  if (gpu.serialNumber !== undefined) return `serial=${gpu.serialNumber}`;
  return `pci=${gpu.pciBusId ?? "?"}`;
}

function byKey<T>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON with sorted keys and undefined members dropped, so equal values serialise equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
  if (isPlainObject(value)) {
    const entries = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}
