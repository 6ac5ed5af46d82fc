/**
 * Component managers: one interface for power and firmware work on any component of a rack (compute
 * tray, NVSwitch tray, power shelf), each implementation speaking whatever that hardware speaks. The rack
 * task executor works only against this interface; a manager is chosen from the registry by component type
 * and implementation name. Targets are plain data, so they can be built from inventory rows.
 */
import { NotFoundError } from "../../errors.ts";
import type { BmcEndpoint, FirmwareUpdateState, PowerAction, PowerState } from "../driver.ts";

export const MANAGED_COMPONENT_TYPES = ["compute", "nvswitch", "powershelf"] as const;
export type ManagedComponentType = (typeof MANAGED_COMPONENT_TYPES)[number];

/** How to check the host key of an SSH server: the OpenSSH `SHA256:…` fingerprint, or not at all (lab). */
export type SshHostKeyPolicy =
  | { readonly mode: "pinned"; readonly sha256Fingerprint: string }
  | { readonly mode: "insecure-accept-any" };

/** An SSH login (the NVOS shell of an NVSwitch); the password is plaintext only in memory. */
export interface SshEndpoint {
  readonly address: string;
  /** Default 22. */
  readonly port?: number;
  readonly username: string;
  readonly password: string;
  readonly hostKey: SshHostKeyPolicy;
  /** Deadline for connecting and for one command, default 15 s. */
  readonly timeoutMs?: number;
}

/** One component as the managers see it: where its management interfaces are and how to log in. */
export interface ComponentTarget {
  /** The component's id in the inventory; keys expectations and cached connections. */
  readonly id: string;
  /** For messages only. */
  readonly name?: string;
  /** The BMC (compute, NVSwitch tray) or the power shelf controller (PMC). */
  readonly bmc: BmcEndpoint;
  /** NVSwitch trays: the switch's own OS (NVOS) over SSH. */
  readonly nvos?: SshEndpoint;
  /** Power shelves: the outlets a power action applies to (their Redfish ids); absent: the whole shelf. */
  readonly outlets?: readonly string[];
}

/** What the manager should consider the desired state, for drift and for verifying an update. */
export interface ComponentExpectation {
  readonly power?: "on" | "off";
  readonly firmwareVersion?: string;
  /** The firmware inventory id the version is about; default the manager's main firmware. */
  readonly firmwareComponent?: string;
}

export interface OutletPowerStatus {
  readonly id: string;
  readonly name?: string;
  readonly state: PowerState;
  readonly watts?: number;
}

export interface ComponentPowerStatus {
  readonly state: PowerState;
  /** The injected expectation, when there is one. */
  readonly expected?: "on" | "off";
  /** True when an expectation exists and the settled state differs from it. */
  readonly drift: boolean;
  /** Power shelves: each outlet (all of them, or those the target names). */
  readonly outlets?: readonly OutletPowerStatus[];
  readonly inputWatts?: number;
  readonly outputWatts?: number;
}

/** How an NVSwitch is updated: its BMC's SimpleUpdate, or the NVOS image install over SSH. */
export type FirmwareStrategy = "redfish" | "ssh";

export interface ComponentFirmwareRequest {
  readonly imageUri: string;
  /** The version the image carries, verified once the update ends; default the injected expectation. */
  readonly version?: string;
  /** Firmware inventory ids to update; default the device's choice (usually its own firmware). */
  readonly components?: readonly string[];
  /** NVSwitch only; default "ssh" when the target has an NVOS endpoint, else "redfish". */
  readonly strategy?: FirmwareStrategy;
}

/**
 * Where an update stands as observed now: `install` (the device is working on it), `wait-reachable` (the
 * switch reboots into the new image and does not answer yet), `verify` (it ended; the version was read).
 */
export type FirmwarePhase = "install" | "wait-reachable" | "verify";

export interface ComponentFirmwareStatus {
  /** Opaque; pass it to getFirmwareStatus. It carries what verification needs, so any replica can poll. */
  readonly handle: string;
  readonly state: FirmwareUpdateState;
  readonly phase: FirmwarePhase;
  readonly percent?: number;
  /** The version the device reports now, once read. */
  readonly version?: string;
  readonly expectedVersion?: string;
  readonly messages: readonly string[];
}

export interface FirmwareVersionReading {
  readonly targetId: string;
  readonly version?: string;
  /** Why the version could not be read. */
  readonly error?: string;
}

export interface FirmwareConsistencyReport {
  /** Every target answered and all run the same version. */
  readonly consistent: boolean;
  readonly versions: readonly FirmwareVersionReading[];
  readonly distinctVersions: readonly string[];
  /** Targets that differ from the most common version, or could not be read. */
  readonly outliers: readonly string[];
}

export interface BringUpResult {
  /** What the manager did or found, in order ("powered on", "NVOS reachable"). */
  readonly steps: readonly string[];
}

/**
 * The seed's component manager interface. Every call takes an AbortSignal and has its own deadline
 * (the manager's callTimeoutMs); device failures are BmcError with the driver's kinds.
 */
export interface ComponentManager {
  readonly type: ManagedComponentType;
  readonly implementation: string;
  powerControl(target: ComponentTarget, action: PowerAction, signal: AbortSignal): Promise<void>;
  getPowerStatus(target: ComponentTarget, signal: AbortSignal): Promise<ComponentPowerStatus>;
  firmwareControl(
    target: ComponentTarget,
    request: ComponentFirmwareRequest,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus>;
  getFirmwareStatus(
    target: ComponentTarget,
    handle: string,
    signal: AbortSignal,
  ): Promise<ComponentFirmwareStatus>;
  /** Merges into what the manager expects of this target (keyed by target id). */
  injectExpectation(target: ComponentTarget, expectation: ComponentExpectation): void;
  /** The expectation injected so far (empty when none). */
  expectationOf(target: ComponentTarget): ComponentExpectation;
  /** Brings the component to a usable state: powered on and answering. */
  bringUp?(target: ComponentTarget, signal: AbortSignal): Promise<BringUpResult>;
  /** Reads the running firmware version of every target and says whether they agree. */
  firmwareConsistency?(
    targets: readonly ComponentTarget[],
    signal: AbortSignal,
  ): Promise<FirmwareConsistencyReport>;
  /** Closes cached sessions and connections. */
  close(): Promise<void>;
}

export class UnknownComponentManagerError extends NotFoundError {
  constructor(type: string, implementation: string, known: readonly string[]) {
    super(
      "component_manager.unknown",
      `no component manager "${type}/${implementation}"; known: ${known.join(", ") || "none"}`,
      { type, implementation, known },
    );
  }
}

/**
 * Versions as devices print them: "2.72" matches "2.72", "v2.72" and "iLO 5 v2.72", but not "2.72.1":
 * the expected version must be one whole word of what the device says.
 */
export function versionMatches(actual: string, expected: string): boolean {
  const norm = (value: string): string =>
    value
      .trim()
      .toLowerCase()
      .replace(/^v(?=\d)/, "");
  const wanted = norm(expected);
  if (wanted === "") return false;
  return norm(actual) === wanted || actual.split(/\s+/).some((word) => norm(word) === wanted);
}

/** The most common version and those that differ from it (or have none). */
export function consistencyOf(readings: readonly FirmwareVersionReading[]): FirmwareConsistencyReport {
  const counts = new Map<string, number>();
  for (const reading of readings) {
    if (reading.version !== undefined) counts.set(reading.version, (counts.get(reading.version) ?? 0) + 1);
  }
  const distinctVersions = [...counts.keys()].sort();
  let majority: string | undefined;
  for (const version of distinctVersions) {
    if (majority === undefined || (counts.get(version) ?? 0) > (counts.get(majority) ?? 0))
      majority = version;
  }
  const outliers = readings
    .filter((reading) => reading.version === undefined || reading.version !== majority)
    .map((reading) => reading.targetId);
  return {
    consistent: outliers.length === 0 && distinctVersions.length <= 1,
    versions: readings,
    distinctVersions,
    outliers,
  };
}

/** Opaque firmware handles: a kind and what verification needs, so any replica can continue polling. */
export function encodeHandle(payload: Readonly<Record<string, string | number | undefined>>): string {
  return `cm1.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
}

export function decodeHandle(handle: string): Record<string, unknown> | undefined {
  if (!handle.startsWith("cm1.")) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(handle.slice(4), "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
