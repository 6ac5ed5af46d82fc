/**
 * The narrow interface every BMC driver (Redfish, IPMI) implements. Vendor quirks stay inside the
 * driver; callers see only these operations. Every call takes an AbortSignal and must honour it, and
 * every failure is a BmcError saying whether the BMC was unreachable, slow, or refused.
 */

export type PowerState = "on" | "off" | "powering-on" | "powering-off" | "unknown";

export type PowerAction =
  | "on"
  | "off"
  | "graceful-shutdown"
  | "force-off"
  | "restart"
  | "graceful-restart"
  | "force-restart"
  | "cycle";

export type BootDevice = "pxe" | "disk" | "http" | "cd" | "bios";
export type BootPersistence = "once" | "continuous";
export type BootMode = "uefi" | "legacy";

export interface BootOverride {
  readonly device: BootDevice;
  readonly persistence: BootPersistence;
  /** Omitted: keep the mode the BMC has. */
  readonly mode?: BootMode;
}

export interface BootOverrideState {
  readonly device: BootDevice | "none" | "other";
  readonly persistence: BootPersistence | "disabled";
  readonly mode: BootMode | "unknown";
}

export interface BmcNic {
  readonly mac: string;
  readonly name?: string;
  readonly speedMbps?: number;
  readonly linkUp?: boolean;
}

export interface BmcDrive {
  readonly model?: string;
  readonly serial?: string;
  readonly sizeBytes?: number;
  readonly mediaType?: "hdd" | "ssd" | "nvme" | "unknown";
}

export interface FirmwareComponent {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly updateable?: boolean;
}

/** What the BMC reports about the machine without booting it. Fields the BMC does not report are absent. */
export interface OutOfBandInventory {
  readonly manufacturer?: string;
  readonly model?: string;
  readonly serial?: string;
  readonly uuid?: string;
  readonly sku?: string;
  readonly biosVersion?: string;
  readonly bmcFirmwareVersion?: string;
  readonly bmcMac?: string;
  readonly powerState: PowerState;
  readonly cpus: ReadonlyArray<{
    readonly model?: string;
    readonly cores?: number;
    readonly threads?: number;
  }>;
  readonly memoryBytes?: number;
  readonly nics: readonly BmcNic[];
  readonly drives: readonly BmcDrive[];
  readonly firmware: readonly FirmwareComponent[];
}

export type SensorKind = "temperature" | "fan" | "power" | "voltage" | "current" | "other";
export type Health = "ok" | "warning" | "critical" | "unknown";

export interface SensorReading {
  readonly name: string;
  readonly kind: SensorKind;
  readonly value: number | null;
  /** °C, RPM, W, V, A, % */
  readonly unit: string;
  readonly health: Health;
}

export interface PowerSupplyStatus {
  readonly name: string;
  readonly health: Health;
  readonly inputWatts?: number;
  readonly outputWatts?: number;
  readonly capacityWatts?: number;
}

export interface SensorReport {
  readonly sensors: readonly SensorReading[];
  readonly powerSupplies: readonly PowerSupplyStatus[];
}

export interface BmcLogEntry {
  readonly id: string;
  readonly created?: string;
  readonly severity: "ok" | "warning" | "critical" | "unknown";
  readonly message: string;
}

export interface FirmwareUpdateRequest {
  readonly imageUri: string;
  /** Redfish TransferProtocol, e.g. HTTP or HTTPS; derived from the URI when omitted. */
  readonly transferProtocol?: string;
  /** Firmware inventory ids to apply the image to; empty or absent lets the BMC decide. */
  readonly targets?: readonly string[];
}

export type FirmwareUpdateState = "pending" | "running" | "completed" | "failed" | "cancelled";

export interface FirmwareUpdateStatus {
  /** Opaque handle (e.g. a Redfish task monitor URI) to poll with. */
  readonly handle: string;
  readonly state: FirmwareUpdateState;
  readonly percent?: number;
  readonly messages: readonly string[];
}

export interface BmcDriver {
  readonly protocol: "redfish" | "ipmi";
  getPowerState(signal: AbortSignal): Promise<PowerState>;
  setPower(action: PowerAction, signal: AbortSignal): Promise<void>;
  getBootOverride(signal: AbortSignal): Promise<BootOverrideState>;
  setBootOverride(override: BootOverride, signal: AbortSignal): Promise<void>;
  getInventory(signal: AbortSignal): Promise<OutOfBandInventory>;
  getSensors(signal: AbortSignal): Promise<SensorReport>;
  getLogEntries(limit: number, signal: AbortSignal): Promise<BmcLogEntry[]>;
  startFirmwareUpdate(request: FirmwareUpdateRequest, signal: AbortSignal): Promise<FirmwareUpdateStatus>;
  getFirmwareUpdateStatus(handle: string, signal: AbortSignal): Promise<FirmwareUpdateStatus>;
  /** Releases sessions and connections. */
  close(): Promise<void>;
}

export type BmcErrorKind =
  /** no TCP connection, DNS failure, connection reset after retries */
  | "unreachable"
  /** no answer within the call's deadline */
  | "timeout"
  /** credentials refused */
  | "auth"
  /** the BMC does not offer the operation (no action target, value not allowed) */
  | "unsupported"
  /** the BMC answered with an error for this request */
  | "rejected"
  /** TLS verification failed (wrong CA, pin mismatch) */
  | "tls"
  /** the answer could not be understood */
  | "protocol";

export class BmcError extends Error {
  override name = "BmcError";
  constructor(
    readonly kind: BmcErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** How to reach a BMC; credentials are plaintext here only in memory, decrypted from the vault. */
export interface BmcEndpoint {
  readonly address: string;
  readonly port?: number;
  readonly username: string;
  readonly password: string;
  readonly tls?: BmcTlsPolicy;
  /** Deadline for a single call, default 15 s. */
  readonly timeoutMs?: number;
}

export type BmcTlsPolicy =
  | { readonly mode: "verify"; readonly ca?: string }
  | { readonly mode: "pinned"; readonly sha256Fingerprint: string }
  | { readonly mode: "insecure-allow-self-signed" };
