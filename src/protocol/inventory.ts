/**
 * The normalized hardware inventory an ingot-agent reports. Shared by the agent (which builds it) and the
 * server (which validates it with exactly these schemas), so it imports nothing but TypeBox.
 *
 * Conventions: every field the hardware may not tell us is optional and left out when unknown (never
 * "Not Specified" or "To be filled by O.E.M."); MAC addresses are lower case and colon separated; PCI
 * addresses are `domain:bus:device.function` in lower-case hex with at least four domain digits; sizes are
 * bytes. Every string and array is bounded and every object refuses unknown fields, so an oversized or
 * malformed payload is refused by validation instead of reaching storage.
 */
import { type Static, type TProperties, Type } from "typebox";

/** Object schema that refuses unknown fields (the protocol cannot import src/http, so it has its own). */
export function protocolObject<T extends TProperties>(properties: T, description?: string) {
  return Type.Object(properties, {
    additionalProperties: false,
    ...(description === undefined ? {} : { description }),
  });
}

/** String length limits of the protocol; the agent clamps to them before sending. */
export const LIMITS = {
  /** serial numbers, UUIDs, part numbers, versions, locators */
  identifier: 128,
  /** model, vendor and product names */
  name: 256,
  /** probe warnings, server messages */
  message: 1024,
  disks: 512,
  nics: 256,
  gpus: 64,
  dimms: 512,
  pciDevices: 2048,
  addressesPerNic: 64,
  probes: 1024,
  warningsPerProbe: 32,
  /** raw text of one probe, in characters */
  probeOutput: 256 * 1024,
  probeStderr: 4096,
  probeCommand: 512,
} as const;

const Identifier = (description?: string) =>
  Type.String({ minLength: 1, maxLength: LIMITS.identifier, ...(description ? { description } : {}) });
const Name = (description?: string) =>
  Type.String({ minLength: 1, maxLength: LIMITS.name, ...(description ? { description } : {}) });
const Count = (description: string) => Type.Integer({ minimum: 0, maximum: 1_000_000, description });
const Bytes = (description: string) => Type.Integer({ minimum: 0, description });

export const MAC_ADDRESS_PATTERN = "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$";
/** Ethernet (6 octets) or InfiniBand (20 octets) link-layer address. */
export const HARDWARE_ADDRESS_PATTERN = "^[0-9a-f]{2}(:[0-9a-f]{2}){5}((:[0-9a-f]{2}){14})?$";
export const PCI_ADDRESS_PATTERN = "^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$";
export const SYSTEM_UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/** Kernel device and interface names (sda, nvme0n1, cciss!c0d0, enp1s0f0np0, ib0). */
export const DEVICE_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9!._:@-]{0,63}$";
const HEX4_PATTERN = "^[0-9a-f]{4}$";

export const MacAddressSchema = Type.String({
  pattern: MAC_ADDRESS_PATTERN,
  description: "48-bit MAC address, lower case, colon separated",
});
export const HardwareAddressSchema = Type.String({
  pattern: HARDWARE_ADDRESS_PATTERN,
  description: "link-layer address: Ethernet (6 octets) or InfiniBand (20 octets), lower case",
});
export const PciAddressSchema = Type.String({
  pattern: PCI_ADDRESS_PATTERN,
  description: "PCI address domain:bus:device.function, lower case (0000:17:00.0)",
});
const DeviceName = Type.String({ pattern: DEVICE_NAME_PATTERN });
const Ipv4 = Type.String({ format: "ipv4", maxLength: 15 });

export const SystemInfoSchema = protocolObject(
  {
    manufacturer: Type.Optional(Name()),
    productName: Type.Optional(Name()),
    family: Type.Optional(Name()),
    serialNumber: Type.Optional(Identifier("system serial number; the service tag on Dell machines")),
    uuid: Type.Optional(
      Type.String({ pattern: SYSTEM_UUID_PATTERN, description: "SMBIOS system UUID, lower case" }),
    ),
    sku: Type.Optional(Name()),
    biosVendor: Type.Optional(Name()),
    biosVersion: Type.Optional(Identifier()),
    biosDate: Type.Optional(
      Identifier("release date, YYYY-MM-DD when the firmware gives MM/DD/YYYY, otherwise as given"),
    ),
    chassisSerial: Type.Optional(Identifier()),
    boardManufacturer: Type.Optional(Name()),
    boardProduct: Type.Optional(Name()),
    boardSerial: Type.Optional(Identifier()),
  },
  "identity of the machine from SMBIOS/DMI; empty on machines without DMI tables (some VMs)",
);

export const CpuInfoSchema = protocolObject({
  model: Type.Optional(Name()),
  vendor: Type.Optional(Name("GenuineIntel, AuthenticAMD, ARM, ...")),
  architecture: Type.Optional(Identifier("x86_64, aarch64, ...")),
  sockets: Type.Optional(Count("populated CPU sockets")),
  cores: Type.Optional(Count("physical cores, all sockets together")),
  threads: Type.Optional(Count("logical CPUs, all sockets together")),
  mhz: Type.Optional(
    Type.Number({ minimum: 0, maximum: 100_000, description: "maximum frequency, else current" }),
  ),
});

export const DimmSchema = protocolObject({
  locator: Type.Optional(Identifier("slot label (A1, DIMM_P0_A0)")),
  bankLocator: Type.Optional(Identifier()),
  sizeBytes: Bytes("module size"),
  type: Type.Optional(Identifier("DDR4, DDR5, ...")),
  formFactor: Type.Optional(Identifier()),
  speedMts: Type.Optional(Count("rated speed in MT/s")),
  configuredSpeedMts: Type.Optional(Count("configured speed in MT/s")),
  manufacturer: Type.Optional(Name()),
  serialNumber: Type.Optional(Identifier()),
  partNumber: Type.Optional(Identifier()),
});

export const MemoryInfoSchema = protocolObject({
  totalBytes: Type.Optional(Bytes("memory the kernel sees (MemTotal)")),
  installedBytes: Type.Optional(Bytes("sum of the installed DIMMs, when DMI lists them")),
  slotCount: Type.Optional(Count("memory device slots DMI lists, empty ones included")),
  dimms: Type.Array(DimmSchema, { maxItems: LIMITS.dimms, description: "installed modules only" }),
});

export const SmartSummarySchema = protocolObject(
  {
    passed: Type.Optional(Type.Boolean({ description: "overall SMART health self-assessment" })),
    powerOnHours: Type.Optional(Count("power-on hours")),
    temperatureCelsius: Type.Optional(Type.Integer({ minimum: -273, maximum: 1000 })),
    mediaErrors: Type.Optional(
      Count("NVMe media and data integrity errors; SCSI total uncorrected read/write/verify errors"),
    ),
    reallocatedSectors: Type.Optional(Count("ATA attribute 5 raw value; SCSI grown defect list length")),
    pendingSectors: Type.Optional(Count("ATA attribute 197 raw value")),
    percentageUsed: Type.Optional(Count("NVMe endurance estimate, percent")),
  },
  "SMART summary from smartctl; fields are present only where the drive reports them",
);

export const DiskKindSchema = Type.Union([Type.Literal("hdd"), Type.Literal("ssd"), Type.Literal("nvme")]);

export const DiskSchema = protocolObject({
  name: DeviceName,
  model: Type.Optional(Name()),
  serialNumber: Type.Optional(Identifier()),
  wwn: Type.Optional(Identifier()),
  firmwareVersion: Type.Optional(Identifier()),
  sizeBytes: Bytes("capacity"),
  rotational: Type.Boolean(),
  transport: Type.Optional(Identifier("sata, sas, nvme, usb, ... as lsblk reports it")),
  kind: DiskKindSchema,
  smart: Type.Optional(SmartSummarySchema),
});

export const NicSchema = protocolObject({
  name: DeviceName,
  macAddress: Type.Optional(HardwareAddressSchema),
  speedMbps: Type.Optional(Count("negotiated link speed in Mb/s")),
  driver: Type.Optional(Identifier()),
  firmwareVersion: Type.Optional(Identifier()),
  linkUp: Type.Optional(Type.Boolean()),
  pciAddress: Type.Optional(PciAddressSchema),
  mtu: Type.Optional(Count("MTU in bytes")),
  addresses: Type.Array(Type.String({ minLength: 3, maxLength: 64, description: "address/prefix" }), {
    maxItems: LIMITS.addressesPerNic,
  }),
});

export const GpuSchema = protocolObject({
  vendor: Type.Optional(Name()),
  model: Type.Optional(Name()),
  serialNumber: Type.Optional(Identifier()),
  uuid: Type.Optional(Identifier("GPU-… for NVIDIA")),
  memoryBytes: Type.Optional(Bytes("framebuffer memory")),
  pciBusId: Type.Optional(PciAddressSchema),
  vbiosVersion: Type.Optional(Identifier()),
  driverVersion: Type.Optional(Identifier()),
});

export const PciDeviceSchema = protocolObject({
  slot: PciAddressSchema,
  classId: Type.Optional(Type.String({ pattern: HEX4_PATTERN, description: "class and subclass (0302)" })),
  className: Type.Optional(Name()),
  vendorId: Type.Optional(Type.String({ pattern: HEX4_PATTERN })),
  vendorName: Type.Optional(Name()),
  deviceId: Type.Optional(Type.String({ pattern: HEX4_PATTERN })),
  deviceName: Type.Optional(Name()),
  subsystemVendorId: Type.Optional(Type.String({ pattern: HEX4_PATTERN })),
  subsystemDeviceId: Type.Optional(Type.String({ pattern: HEX4_PATTERN })),
  revision: Type.Optional(Type.String({ pattern: "^[0-9a-f]{2}$" })),
  driver: Type.Optional(Identifier()),
});

export const BmcIpSourceSchema = Type.Union([
  Type.Literal("static"),
  Type.Literal("dhcp"),
  Type.Literal("bios"),
  Type.Literal("other"),
  Type.Literal("unspecified"),
]);

export const BmcInfoSchema = protocolObject(
  {
    ipAddress: Type.Optional(Ipv4),
    ipSource: Type.Optional(BmcIpSourceSchema),
    macAddress: Type.Optional(MacAddressSchema),
    subnetMask: Type.Optional(Ipv4),
    defaultGateway: Type.Optional(Ipv4),
    vlanId: Type.Optional(Type.Integer({ minimum: 1, maximum: 4094 })),
  },
  "BMC LAN settings from `ipmitool lan print`",
);

export const HardwareInventorySchema = protocolObject({
  system: SystemInfoSchema,
  cpu: CpuInfoSchema,
  memory: MemoryInfoSchema,
  disks: Type.Array(DiskSchema, { maxItems: LIMITS.disks }),
  nics: Type.Array(NicSchema, { maxItems: LIMITS.nics }),
  gpus: Type.Array(GpuSchema, { maxItems: LIMITS.gpus }),
  pciDevices: Type.Array(PciDeviceSchema, { maxItems: LIMITS.pciDevices }),
  bmc: Type.Optional(BmcInfoSchema),
});

export type SystemInfo = Static<typeof SystemInfoSchema>;
export type CpuInfo = Static<typeof CpuInfoSchema>;
export type Dimm = Static<typeof DimmSchema>;
export type MemoryInfo = Static<typeof MemoryInfoSchema>;
export type SmartSummary = Static<typeof SmartSummarySchema>;
export type DiskKind = Static<typeof DiskKindSchema>;
export type Disk = Static<typeof DiskSchema>;
export type Nic = Static<typeof NicSchema>;
export type Gpu = Static<typeof GpuSchema>;
export type PciDevice = Static<typeof PciDeviceSchema>;
export type BmcIpSource = Static<typeof BmcIpSourceSchema>;
export type BmcInfo = Static<typeof BmcInfoSchema>;
export type HardwareInventory = Static<typeof HardwareInventorySchema>;
