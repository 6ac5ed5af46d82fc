/**
 * Vendor personalities of the simulated BMCs, as data. Each is modelled on a captured tree in
 * ../shared/fixtures/redfish (resource ids, how reset values are advertised, ETags in bodies, $expand,
 * sensor model, messages) so the driver meets the same differences it meets on real hardware.
 */

export type RedfishVendor = "openbmc" | "ilo5";

export interface CpuSpec {
  readonly model: string;
  readonly cores: number;
  readonly threads: number;
  readonly maxSpeedMhz: number;
}

export interface DriveSpec {
  readonly model: string;
  readonly sizeBytes: number;
  readonly media: "SSD" | "HDD";
  readonly protocol: "NVMe" | "SATA" | "SAS";
}

export interface HardwareSpec {
  readonly cpus: readonly CpuSpec[];
  /** DIMM slots; 0 MiB is an empty slot (listed as Absent, as BMCs do). */
  readonly dimmsMiB: readonly number[];
  readonly nicSpeedsMbps: readonly number[];
  readonly drives: readonly DriveSpec[];
}

export interface FirmwareSpec {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly updateable: boolean;
  readonly role: "bmc" | "bios" | "other";
}

export interface TemperatureSpec {
  readonly id: string;
  readonly name: string;
  readonly context: string;
  /** Reading with the machine cold and off, and the rise at full heat. */
  readonly idle: number;
  readonly rise: number;
  readonly critical: number;
  readonly absent?: boolean;
}

export interface VendorProfile {
  readonly vendor: RedfishVendor;
  readonly ids: { readonly system: string; readonly chassis: string; readonly manager: string };
  readonly redfishVersion: string;
  readonly product: string | undefined;
  readonly manufacturer: string;
  readonly model: string;
  readonly sku: string | undefined;
  readonly serialPrefix: string;
  /** iLO advertises `$expand=.($levels=1)`; stock bmcweb does not. */
  readonly expand: boolean;
  /** iLO puts `@odata.etag` in bodies besides the ETag header. */
  readonly etagInBody: boolean;
  /** iLO matches paths case-insensitively (its own Bios link is `/redfish/v1/systems/1/bios`). */
  readonly caseInsensitivePaths: boolean;
  readonly resetTypes: readonly string[];
  /** Inline `ResetType@Redfish.AllowableValues` (iLO) or an ActionInfo resource (bmcweb). */
  readonly resetValuesInline: boolean;
  /** iLO answers 400 to On when on and ForceOff when off. */
  readonly rejectsRedundantPower: boolean;
  readonly bootTargets: readonly string[];
  readonly bootModes: readonly string[];
  readonly transferProtocols: readonly string[];
  /** bmcweb: Sensors + PowerSubsystem + ThermalSubsystem besides the legacy resources; iLO 5: legacy only. */
  readonly sensorModel: "sensors" | "legacy";
  readonly fanUnits: "RPM" | "Percent";
  readonly temperatures: readonly TemperatureSpec[];
  readonly fanCount: number;
  readonly hardware: HardwareSpec;
  readonly firmware: readonly FirmwareSpec[];
  readonly biosLink: string;
  readonly managerModel: string;
  readonly managerFirmwareVersion: (bmcVersion: string) => string;
  readonly logs: {
    readonly system: string;
    readonly manager: string;
    readonly powerOn: string;
    readonly powerOff: string;
    readonly reset: string;
    readonly login: (user: string) => string;
    readonly firmware: (name: string, version: string) => string;
    readonly firmwareFailed: (name: string) => string;
  };
  readonly invalidStateMessageId: string;
  readonly sessionServiceTrailingSlash: boolean;
}

const DIMMS_DL325 = [16384, 0, 16384, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16384, 0, 16384];

export const PROFILES: Readonly<Record<RedfishVendor, VendorProfile>> = {
  ilo5: {
    vendor: "ilo5",
    ids: { system: "1", chassis: "1", manager: "1" },
    redfishVersion: "1.6.0",
    product: "ProLiant DL325 Gen10 Plus",
    manufacturer: "HPE",
    model: "ProLiant DL325 Gen10 Plus",
    sku: "P18606-B21",
    serialPrefix: "MXQ",
    expand: true,
    etagInBody: true,
    caseInsensitivePaths: true,
    resetTypes: [
      "On",
      "ForceOff",
      "GracefulShutdown",
      "ForceRestart",
      "Nmi",
      "PushPowerButton",
      "GracefulRestart",
    ],
    resetValuesInline: true,
    rejectsRedundantPower: true,
    bootTargets: [
      "None",
      "Cd",
      "Hdd",
      "Usb",
      "SDCard",
      "Utilities",
      "Diags",
      "BiosSetup",
      "Pxe",
      "UefiShell",
      "UefiHttp",
      "UefiTarget",
    ],
    bootModes: ["UEFI", "Legacy"],
    transferProtocols: ["HTTP", "HTTPS"],
    sensorModel: "legacy",
    fanUnits: "Percent",
    temperatures: [
      { id: "0", name: "01-Inlet Ambient", context: "Intake", idle: 17, rise: 4, critical: 42 },
      { id: "1", name: "02-CPU 1", context: "CPU", idle: 24, rise: 38, critical: 75 },
      { id: "2", name: "03-P1 DIMM 1-8", context: "SystemBoard", idle: 21, rise: 14, critical: 88 },
      { id: "3", name: "05-HD Max", context: "SystemBoard", idle: 0, rise: 0, critical: 60, absent: true },
      { id: "4", name: "11-BMC", context: "SystemBoard", idle: 50, rise: 6, critical: 105 },
      { id: "5", name: "24-Sys Exhaust", context: "SystemBoard", idle: 20, rise: 16, critical: 75 },
    ],
    fanCount: 6,
    hardware: {
      cpus: [{ model: "AMD EPYC 7302P 16-Core Processor", cores: 16, threads: 32, maxSpeedMhz: 4100 }],
      dimmsMiB: DIMMS_DL325,
      nicSpeedsMbps: [25000, 25000, 25000, 25000],
      drives: [
        { model: "MK000480GWXFF", sizeBytes: 480_103_981_056, media: "SSD", protocol: "SATA" },
        { model: "MO001600KXPTR", sizeBytes: 1_600_321_314_816, media: "SSD", protocol: "NVMe" },
      ],
    },
    firmware: [
      {
        id: "1",
        name: "iLO 5",
        description: "SystemBMC",
        version: "2.46 May 11 2021",
        updateable: true,
        role: "bmc",
      },
      {
        id: "2",
        name: "System ROM",
        description: "SystemRomActive",
        version: "A43 v2.52 (10/29/2021)",
        updateable: true,
        role: "bios",
      },
      {
        id: "5",
        name: "Power Management Controller Firmware",
        description: "PowerManagementController",
        version: "1.0.7",
        updateable: true,
        role: "other",
      },
      {
        id: "9",
        name: "TPM Firmware",
        description: "TPMFirmware",
        version: "73.64",
        updateable: false,
        role: "other",
      },
    ],
    biosLink: "/redfish/v1/systems/1/bios",
    managerModel: "iLO 5",
    managerFirmwareVersion: (version) => `iLO 5 v${version.split(" ")[0]}`,
    logs: {
      system: "IML",
      manager: "IEL",
      powerOn: "Server power restored.",
      powerOff: "Server power removed.",
      reset: "Server reset.",
      login: (user) => `Browser login: ${user}`,
      firmware: (name, version) => `Firmware flashed (${name} ${version})`,
      firmwareFailed: (name) => `Firmware flash failed (${name}): image verification failed`,
    },
    invalidStateMessageId: "iLO.2.14.InvalidOperationForSystemState",
    sessionServiceTrailingSlash: false,
  },
  openbmc: {
    vendor: "openbmc",
    ids: { system: "system", chassis: "chassis", manager: "bmc" },
    redfishVersion: "1.17.0",
    product: undefined,
    manufacturer: "Ingot Lab",
    model: "OpenBMC Reference Server",
    sku: undefined,
    serialPrefix: "OBM",
    expand: false,
    etagInBody: false,
    caseInsensitivePaths: false,
    resetTypes: [
      "On",
      "ForceOff",
      "ForceOn",
      "ForceRestart",
      "GracefulRestart",
      "GracefulShutdown",
      "PowerCycle",
      "Nmi",
    ],
    resetValuesInline: false,
    rejectsRedundantPower: false,
    bootTargets: ["None", "Pxe", "Hdd", "Cd", "Diags", "BiosSetup", "Usb"],
    bootModes: ["Legacy", "UEFI"],
    transferProtocols: ["HTTPS", "TFTP"],
    sensorModel: "sensors",
    fanUnits: "RPM",
    temperatures: [
      { id: "Inlet_Temp", name: "Inlet Temp", context: "Intake", idle: 22, rise: 3, critical: 45 },
      { id: "CPU0_Temp", name: "CPU0 Temp", context: "CPU", idle: 28, rise: 45, critical: 95 },
      { id: "CPU1_Temp", name: "CPU1 Temp", context: "CPU", idle: 28, rise: 43, critical: 95 },
      { id: "DIMM_Temp", name: "DIMM Temp", context: "Memory", idle: 25, rise: 17, critical: 85 },
      { id: "Exhaust_Temp", name: "Exhaust Temp", context: "Exhaust", idle: 24, rise: 18, critical: 70 },
    ],
    fanCount: 4,
    hardware: {
      cpus: [
        { model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", cores: 32, threads: 64, maxSpeedMhz: 3200 },
        { model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", cores: 32, threads: 64, maxSpeedMhz: 3200 },
      ],
      dimmsMiB: Array.from({ length: 16 }, () => 32768),
      nicSpeedsMbps: [25000, 25000],
      drives: [
        { model: "SAMSUNG MZQL23T8HCLS-00A07", sizeBytes: 3_840_755_982_336, media: "SSD", protocol: "NVMe" },
        { model: "SAMSUNG MZQL23T8HCLS-00A07", sizeBytes: 3_840_755_982_336, media: "SSD", protocol: "NVMe" },
      ],
    },
    firmware: [
      {
        id: "bmc_active",
        name: "Software Inventory",
        description: "BMC image",
        version: "2.15.0-dev-686-g100c36de90",
        updateable: true,
        role: "bmc",
      },
      {
        id: "bios_active",
        name: "Software Inventory",
        description: "Host image",
        version: "1.4.2-ingot",
        updateable: true,
        role: "bios",
      },
    ],
    biosLink: "/redfish/v1/Systems/system/Bios",
    managerModel: "OpenBmc",
    managerFirmwareVersion: (version) => version,
    logs: {
      system: "EventLog",
      manager: "Journal",
      powerOn: "Host system DC power is on",
      powerOff: "Host system DC power is off",
      reset: "Host system reset",
      login: (user) => `bmcweb: Session created for user ${user}`,
      firmware: (name, version) => `${name} firmware update to version ${version} completed`,
      firmwareFailed: (name) => `${name} firmware update failed: image verification failed`,
    },
    invalidStateMessageId: "Base.1.13.0.OperationNotAllowed",
    sessionServiceTrailingSlash: true,
  },
};
