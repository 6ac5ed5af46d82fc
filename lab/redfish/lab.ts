/**
 * The programmatic face of the simulated Redfish BMCs: start N of them (one HTTPS port each on loopback),
 * inspect their machines, inject faults, attach boot listeners, stop them. Used by tests and by `ingot lab`.
 */
import { randomInt } from "node:crypto";
import { createLabTls, type LabTlsMaterial } from "../common/tls.ts";
import {
  checkDeviceCount,
  type LabHttpsDevice,
  labCredentials,
  labHttpsDevice,
  type StartedDevice,
  seededUuid,
  startDevices,
} from "./devices.ts";
import { FaultController } from "./faults.ts";
import { FixtureRedfishService } from "./fixture.ts";
import { LabHttpsServer } from "./https-server.ts";
import {
  type BootListener,
  type LabBootEvent,
  type MachineIdentity,
  type MachineTiming,
  type OsShutdown,
  type PowerChangeListener,
  SimulatedMachine,
} from "./machine.ts";
import { type HardwareSpec, PROFILES, type RedfishVendor, type VendorProfile } from "./profiles.ts";
import { type LabCredentials, type RedfishLabQuirks, SimulatedRedfishService } from "./service.ts";

export const DEFAULT_TIMING: MachineTiming = {
  powerOnDelayMs: 1_500,
  powerOffDelayMs: 500,
  gracefulShutdownMs: 2_000,
  firmwareUpdateMs: 5_000,
  thermalTimeConstantMs: 30_000,
};

export interface RedfishLabMachineOptions {
  readonly vendor?: RedfishVendor;
  readonly credentials?: LabCredentials;
  readonly initialPowerState?: "On" | "Off";
  /** BootSourceOverrideTarget used when no override is set (default Hdd). */
  readonly defaultBootTarget?: string;
  /** Offer only these ResetType values instead of the vendor's. */
  readonly resetTypes?: readonly string[];
  readonly quirks?: RedfishLabQuirks;
  readonly timing?: Partial<MachineTiming>;
  readonly hardware?: Partial<HardwareSpec>;
  /** The product behind the vendor's BMC (an NVSwitch tray runs OpenBMC too): names, serials, firmware. */
  readonly product?: RedfishLabProduct;
  /** "delegated": GracefulShutdown goes to `onShutdownRequest` listeners (a VM), not to a timer. */
  readonly osShutdown?: OsShutdown;
}

export type RedfishLabProduct = Partial<
  Pick<
    VendorProfile,
    "manufacturer" | "model" | "product" | "sku" | "serialPrefix" | "managerModel" | "firmware"
  >
>;

export interface RedfishLabOptions extends Omit<RedfishLabMachineOptions, "vendor"> {
  readonly machines: number;
  /** "mixed" alternates the vendors by index. Default openbmc. */
  readonly vendor?: RedfishVendor | "mixed";
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** First port; machine i listens on basePort + i. Default 0: ephemeral ports. */
  readonly basePort?: number;
  /** Makes serials, UUIDs and MACs reproducible; MACs are unique per (seed, index). Default random. */
  readonly seed?: number;
  readonly sessionTimeoutMs?: number;
  /** Reuse certificates across labs (generation is the slowest part of a start). */
  readonly tls?: LabTlsMaterial;
  /** Per-machine overrides of the options above. */
  readonly machine?: (index: number) => RedfishLabMachineOptions;
  readonly onBoot?: BootListener;
}

export interface RedfishLabMachineState {
  readonly powerState: SimulatedMachine["power"];
  readonly bootOverride: { readonly enabled: string; readonly target: string; readonly mode: string };
  readonly pendingBootOverride: Readonly<Record<string, string>> | undefined;
  readonly bootCount: number;
  readonly lastBoot: LabBootEvent | undefined;
  readonly firmware: ReadonlyArray<{ readonly id: string; readonly name: string; readonly version: string }>;
  readonly tasks: ReadonlyArray<{ readonly id: string; readonly state: string; readonly percent: number }>;
  readonly systemLog: ReadonlyArray<{
    readonly id: string;
    readonly message: string;
    readonly severity: string;
  }>;
  readonly managerLog: ReadonlyArray<{
    readonly id: string;
    readonly message: string;
    readonly severity: string;
  }>;
  readonly sessions: number;
}

export interface RedfishLabBmc extends LabHttpsDevice {
  readonly index: number;
  readonly vendor: RedfishVendor;
  readonly identity: MachineIdentity;
  state(): RedfishLabMachineState;
  onBoot(listener: BootListener): () => void;
  /** Every change of the host's power state (On, Off and the transitions), with its cause. */
  onPowerChange(listener: PowerChangeListener): () => void;
  /** With osShutdown "delegated": the BMC asked the OS to shut down (GracefulShutdown, power button). */
  onShutdownRequest(listener: () => void | Promise<void>): () => void;
  /** The host went off without the BMC asking (its VM exited, its OS powered off). */
  powerLost(reason: string): void;
  /**
   * The AC feed of the whole server (a power shelf outlet): without it the host is off and the BMC itself
   * is dark (connections refused). When AC returns the BMC answers again and the host stays off.
   */
  setAcPower(present: boolean): Promise<void>;
  readonly acPower: boolean;
  /** Ends all Redfish sessions as an idle timeout would. */
  expireSessions(): void;
}

export interface RedfishLab {
  readonly bmcs: readonly RedfishLabBmc[];
  readonly tls: LabTlsMaterial;
  stop(): Promise<void>;
}

export async function startRedfishLab(options: RedfishLabOptions): Promise<RedfishLab> {
  checkDeviceCount(options.machines, "machines");
  const tls = options.tls ?? (await createLabTls());
  const host = options.host ?? "127.0.0.1";
  const seed = options.seed ?? randomInt(0, 65_536);
  const defaultCredentials = labCredentials(options.credentials);
  const group = await startDevices(
    options.machines,
    async (index): Promise<StartedDevice<RedfishLabBmc>> => {
      const own = options.machine?.(index) ?? {};
      const vendor =
        own.vendor ??
        (options.vendor === "mixed" ? (index % 2 === 0 ? "openbmc" : "ilo5") : (options.vendor ?? "openbmc"));
      const profile: VendorProfile = { ...PROFILES[vendor], ...options.product, ...own.product };
      const machine = new SimulatedMachine({
        profile,
        identity: identityFor(
          seed,
          index,
          profile.serialPrefix,
          profile.sku,
          nicCount(profile, own, options),
        ),
        hardware: { ...profile.hardware, ...options.hardware, ...own.hardware },
        timing: { ...DEFAULT_TIMING, ...options.timing, ...own.timing },
        initialPowerState: own.initialPowerState ?? options.initialPowerState ?? "Off",
        defaultBootTarget: own.defaultBootTarget ?? options.defaultBootTarget ?? "Hdd",
        osShutdown: own.osShutdown ?? options.osShutdown ?? "simulated",
        ...((own.resetTypes ?? options.resetTypes)
          ? { resetTypes: own.resetTypes ?? options.resetTypes }
          : {}),
      });
      if (options.onBoot !== undefined) machine.onBoot(options.onBoot);
      const faults = new FaultController(seed * 1_000 + index);
      const credentials = own.credentials ?? defaultCredentials;
      const service = new SimulatedRedfishService(
        machine,
        faults,
        credentials,
        { ...options.quirks, ...own.quirks },
        options.sessionTimeoutMs ?? 30 * 60_000,
      );
      const server = new LabHttpsServer(tls, (request) => service.handle(request), faults);
      const port = await server.listen(host, options.basePort ? options.basePort + index : 0);
      let acPower = true;
      const bmc: RedfishLabBmc = {
        ...labHttpsDevice({ server, host, port, credentials, faults, tls }),
        index,
        vendor,
        identity: machine.identity,
        state: () => snapshot(machine, service),
        onBoot: (listener) => machine.onBoot(listener),
        onPowerChange: (listener) => machine.onPowerChange(listener),
        onShutdownRequest: (listener) => machine.onShutdownRequest(listener),
        powerLost: (reason) => machine.powerLost(reason),
        setAcPower: async (present) => {
          if (present === acPower) return;
          acPower = present;
          if (present) {
            await server.resume();
            machine.log("manager", "AC power restored; the BMC has started", "OK", "AcRestored");
          } else {
            machine.powerLost("AC power lost");
            await server.suspend();
          }
        },
        get acPower() {
          return acPower;
        },
        expireSessions: () => service.sessions.expire(),
      };
      return {
        device: bmc,
        close: async () => {
          machine.stop();
          await server.close();
        },
      };
    },
    "parallel",
  );
  return { bmcs: group.devices, tls, stop: group.stop };
}

function nicCount(
  profile: (typeof PROFILES)[RedfishVendor],
  own: RedfishLabMachineOptions,
  options: Pick<RedfishLabMachineOptions, "hardware">,
): number {
  return (own.hardware?.nicSpeedsMbps ?? options.hardware?.nicSpeedsMbps ?? profile.hardware.nicSpeedsMbps)
    .length;
}

function snapshot(machine: SimulatedMachine, service: SimulatedRedfishService): RedfishLabMachineState {
  const entries = (log: typeof machine.systemLog) =>
    log.map((entry) => ({ id: entry.id, message: entry.message, severity: entry.severity }));
  return {
    powerState: machine.power,
    bootOverride: {
      enabled: machine.boot.BootSourceOverrideEnabled,
      target: machine.boot.BootSourceOverrideTarget,
      mode: machine.boot.BootSourceOverrideMode,
    },
    pendingBootOverride: machine.pendingBoot !== undefined ? { ...machine.pendingBoot } : undefined,
    bootCount: machine.bootCount,
    lastBoot: machine.lastBoot,
    firmware: machine.firmware.map((item) => ({ id: item.id, name: item.name, version: item.version })),
    tasks: [...machine.tasks.values()].map((task) => ({
      id: task.id,
      state: task.state,
      percent: machine.taskPercent(task),
    })),
    systemLog: entries(machine.systemLog),
    managerLog: entries(machine.managerLog),
    sessions: service.sessions.count,
  };
}

function hex(byte: number): string {
  return (byte & 0xff).toString(16).padStart(2, "0");
}

/** Locally administered MACs (02:…) carrying the seed and the machine index: unique within a seed. */
export function identityFor(
  seed: number,
  index: number,
  serialPrefix: string,
  sku: string | undefined,
  nics: number,
): MachineIdentity {
  const base = `02:${hex(seed >> 8)}:${hex(seed)}:${hex(index >> 8)}:${hex(index)}`;
  return {
    index,
    serial: `${serialPrefix}${String(seed % 1000).padStart(3, "0")}${String(index).padStart(4, "0")}`,
    uuid: seededUuid(`ingot-lab/${seed}/${index}`),
    sku,
    hostName: `lab-node-${index}`,
    nicMacs: Array.from({ length: nics }, (_, nic) => `${base}:${hex(nic)}`),
    bmcMac: `${base}:fe`,
  };
}

export interface RedfishFixtureOptions {
  /** A captured tree in the short layout, e.g. ../shared/fixtures/redfish/hpe-dl325-ilo5. */
  readonly directory: string;
  /** Basic credentials the fixture demands (sessions are a write, which fixtures refuse). Default generated. */
  readonly credentials?: LabCredentials;
  readonly host?: string;
  readonly port?: number;
  readonly tls?: LabTlsMaterial;
  readonly seed?: number;
}

export interface RedfishFixtureBmc extends LabHttpsDevice {
  readonly tls: LabTlsMaterial;
  /** Number of resources served. */
  readonly resources: number;
  stop(): Promise<void>;
}

export async function startRedfishFixtureBmc(options: RedfishFixtureOptions): Promise<RedfishFixtureBmc> {
  const credentials = labCredentials(options.credentials);
  const [service, tls] = await Promise.all([
    FixtureRedfishService.load(options.directory, credentials),
    options.tls !== undefined ? Promise.resolve(options.tls) : createLabTls(),
  ]);
  const host = options.host ?? "127.0.0.1";
  const faults = new FaultController(options.seed ?? 1);
  const server = new LabHttpsServer(tls, (request) => service.handle(request), faults);
  const port = await server.listen(host, options.port ?? 0);
  return {
    ...labHttpsDevice({ server, host, port, credentials, faults, tls }),
    tls,
    resources: service.size,
    stop: () => server.close(),
  };
}
