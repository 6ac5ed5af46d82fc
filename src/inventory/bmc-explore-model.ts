/**
 * BMC exploration (seed 002's site explorer): given a BMC address and credentials, or an expected machine
 * that carries them, read what the BMC knows about its machine without booting it, then register the BMC
 * and create or link the machine. Schemas of the API and the pure mappings from the driver's
 * OutOfBandInventory to what is stored.
 */
import { type Static, Type } from "typebox";
import type { OutOfBandInventory } from "../bmc/driver.ts";
import { StrictObject, Timestamp } from "../http/schema.ts";
import {
  DEVICE_NAME_PATTERN,
  type Disk,
  type HardwareInventory,
  LIMITS,
  type Nic,
  SYSTEM_UUID_PATTERN,
} from "../protocol/inventory.ts";
import {
  BmcAddressSchema,
  BmcCredentialsSchema,
  BmcPortSchema,
  BmcProtocolSchema,
  BmcSchema,
  BmcTlsPolicySchema,
} from "./bmc-model.ts";
import { NullableUuid, Uuid } from "./inventory-schema.ts";
import { MacAddressOutput, normalizeMac } from "./mac-address.ts";

export const ExploreRequestSchema = StrictObject(
  {
    expectedMachineId: Type.Optional(
      Type.String({
        format: "uuid",
        description: "explore the BMC of this expected machine, with the address and credentials it carries",
      }),
    ),
    address: Type.Optional(BmcAddressSchema),
    port: Type.Optional(BmcPortSchema),
    protocol: Type.Optional(BmcProtocolSchema),
    credentials: Type.Optional(BmcCredentialsSchema),
    tls: Type.Optional(BmcTlsPolicySchema),
  },
  {
    description:
      "either `expectedMachineId`, or `address` + `protocol` + `credentials`; fields given beside an expected " +
      "machine override what it carries. `tls` defaults to verify (use insecure-allow-self-signed or a pinned " +
      "fingerprint for factory certificates)",
  },
);
export type ExploreRequest = Static<typeof ExploreRequestSchema>;

const Text = Type.String();
const OptionalText = Type.Optional(Text);
const OptionalCount = Type.Optional(Type.Integer({ minimum: 0 }));

/** The driver's OutOfBandInventory as the API shows it (absent fields: the BMC did not say). */
export const OobInventorySchema = Type.Object({
  manufacturer: OptionalText,
  model: OptionalText,
  serial: OptionalText,
  uuid: OptionalText,
  sku: OptionalText,
  biosVersion: OptionalText,
  bmcFirmwareVersion: OptionalText,
  bmcMac: OptionalText,
  cpus: Type.Array(Type.Object({ model: OptionalText, cores: OptionalCount, threads: OptionalCount })),
  memoryBytes: OptionalCount,
  nics: Type.Array(
    Type.Object({
      mac: Text,
      name: OptionalText,
      speedMbps: OptionalCount,
      linkUp: Type.Optional(Type.Boolean()),
    }),
  ),
  drives: Type.Array(
    Type.Object({
      model: OptionalText,
      serial: OptionalText,
      sizeBytes: OptionalCount,
      mediaType: Type.Optional(Type.String()),
    }),
  ),
  firmware: Type.Array(
    Type.Object({ id: Text, name: Text, version: Text, updateable: Type.Optional(Type.Boolean()) }),
  ),
});

/** What `bmcs.oob_inventory` holds: the inventory without the power state (that has its own column). */
export type StoredOobInventory = Omit<OutOfBandInventory, "powerState">;

export function storedOobInventory(inventory: OutOfBandInventory): StoredOobInventory {
  const { powerState: _powerState, ...rest } = inventory;
  return rest;
}

export type OobInventory = Static<typeof OobInventorySchema>;

/** The stored inventory as the API shows it. */
export function oobView(inventory: StoredOobInventory): OobInventory {
  return {
    ...inventory,
    cpus: [...inventory.cpus],
    nics: [...inventory.nics],
    drives: [...inventory.drives],
    firmware: [...inventory.firmware],
  };
}

export const BmcInventorySchema = Type.Object({
  macAddress: MacAddressOutput,
  machineId: NullableUuid,
  powerState: Type.Union([Type.String(), Type.Null()]),
  lastContactAt: Type.Union([Timestamp, Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  inventory: Type.Union([OobInventorySchema, Type.Null()], {
    description: "what the BMC last reported out of band; null until it has been read",
  }),
});
export type BmcInventory = Static<typeof BmcInventorySchema>;

export const EXPLORE_MATCHES = ["bmc", "serial", "system_uuid", "nic_mac"] as const;
export type ExploreMatch = (typeof EXPLORE_MATCHES)[number];

export const ExploreResultSchema = Type.Object({
  bmc: BmcSchema,
  machineId: Uuid,
  expectedMachineId: NullableUuid,
  outcome: Type.Object({
    bmc: Type.Union([Type.Literal("created"), Type.Literal("updated"), Type.Literal("unchanged")]),
    machine: Type.Union([Type.Literal("created"), Type.Literal("linked"), Type.Literal("unchanged")]),
    matchedBy: Type.Union([Type.Enum(EXPLORE_MATCHES), Type.Null()], {
      description: "how an existing machine was recognised: its BMC link, serial, system UUID or a NIC MAC",
    }),
    inventoryChanged: Type.Boolean({ description: "the out-of-band inventory differs from the stored one" }),
  }),
  powerState: Type.String(),
  inventory: OobInventorySchema,
});
export type ExploreResult = Static<typeof ExploreResultSchema>;

const UUID = new RegExp(SYSTEM_UUID_PATTERN);
const DEVICE_NAME = new RegExp(DEVICE_NAME_PATTERN);

/** Trimmed, non-empty and within the protocol's limit, or undefined. */
function clean(value: string | undefined, limit: number): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed.slice(0, limit);
}

/** The system UUID as machines store it (lower case), or undefined when it is not one. */
export function systemUuidOf(uuid: string | undefined): string | undefined {
  const lower = uuid?.trim().toLowerCase();
  return lower !== undefined && UUID.test(lower) ? lower : undefined;
}

/** NIC MACs the BMC reports for the host, canonical and unique. */
export function hostMacsOf(inventory: Pick<OutOfBandInventory, "nics">): string[] {
  const macs = inventory.nics.map((nic) => normalizeMac(nic.mac)).filter((mac) => mac !== undefined);
  return [...new Set(macs)];
}

function sumOf(values: ReadonlyArray<number | undefined>): number | undefined {
  if (values.length === 0 || values.some((value) => value === undefined)) return undefined;
  return values.reduce<number>((total, value) => total + (value ?? 0), 0);
}

function compact<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}

/**
 * The machine inventory a machine found through its BMC starts with: the parts of the out-of-band view
 * that mean the same in-band. Kernel names are unknown before the machine boots, so NICs keep the name
 * the BMC gives them (or `nicN`) and drives are `bmc-driveN`; an agent's enrollment replaces all of it.
 */
export function hardwareInventoryFromOob(
  inventory: OutOfBandInventory,
  bmcAddress: string,
): HardwareInventory {
  const cpus = inventory.cpus;
  const nics: Nic[] = [];
  inventory.nics.forEach((nic, index) => {
    const mac = normalizeMac(nic.mac);
    if (mac === undefined) return;
    const name = nic.name !== undefined && DEVICE_NAME.test(nic.name) ? nic.name : `nic${index}`;
    nics.push(
      compact({
        name,
        macAddress: mac,
        speedMbps: nic.speedMbps,
        linkUp: nic.linkUp,
        addresses: [],
      }) as Nic,
    );
  });
  const disks: Disk[] = [];
  inventory.drives.forEach((drive, index) => {
    if (drive.mediaType === undefined || drive.mediaType === "unknown") return;
    disks.push(
      compact({
        name: `bmc-drive${index}`,
        model: clean(drive.model, LIMITS.name),
        serialNumber: clean(drive.serial, LIMITS.identifier),
        sizeBytes: drive.sizeBytes ?? 0,
        rotational: drive.mediaType === "hdd",
        kind: drive.mediaType,
      }) as Disk,
    );
  });
  const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(bmcAddress) ? bmcAddress : undefined;
  const bmcMac = inventory.bmcMac !== undefined ? normalizeMac(inventory.bmcMac) : undefined;
  return {
    system: compact({
      manufacturer: clean(inventory.manufacturer, LIMITS.name),
      productName: clean(inventory.model, LIMITS.name),
      serialNumber: clean(inventory.serial, LIMITS.identifier),
      uuid: systemUuidOf(inventory.uuid),
      sku: clean(inventory.sku, LIMITS.name),
      biosVersion: clean(inventory.biosVersion, LIMITS.identifier),
    }),
    cpu: compact({
      model: clean(cpus[0]?.model, LIMITS.name),
      sockets: cpus.length > 0 ? cpus.length : undefined,
      cores: sumOf(cpus.map((cpu) => cpu.cores)),
      threads: sumOf(cpus.map((cpu) => cpu.threads)),
    }),
    memory: compact({ installedBytes: inventory.memoryBytes, dimms: [] }),
    disks: disks.slice(0, LIMITS.disks),
    nics: nics.slice(0, LIMITS.nics),
    gpus: [],
    pciDevices: [],
    ...(bmcMac !== undefined || ipv4 !== undefined
      ? { bmc: compact({ macAddress: bmcMac, ipAddress: ipv4 }) }
      : {}),
  };
}
