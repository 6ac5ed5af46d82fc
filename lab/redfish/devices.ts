/**
 * What simulated devices (BMCs, power shelves, NVSwitch trays) share: the default login, the URL and
 * BmcEndpoint of a device on its loopback HTTPS port, identities derived from the lab's seed, starting
 * several devices all or none, and the timers of a device that stop with it.
 */
import { createHash, randomBytes } from "node:crypto";
import type { BmcEndpoint } from "../../src/bmc/driver.ts";
import type { LabTlsMaterial } from "../common/tls.ts";
import type { FaultController } from "./faults.ts";
import type { LabHttpsServer, RequestRecord } from "./https-server.ts";
import type { LabCredentials } from "./sessions.ts";

/** A simulated device on its own HTTPS port: where it listens, its login, its faults, what it was asked. */
export interface LabHttpsDevice {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly credentials: LabCredentials;
  readonly faults: FaultController;
  /** Endpoint for a driver or manager, trusting the lab CA unless overridden. */
  endpoint(overrides?: Partial<BmcEndpoint>): BmcEndpoint;
  requests(): RequestRecord[];
  clearRequests(): void;
}

/** The LabHttpsDevice of a device whose server listens on host:port. */
export function labHttpsDevice(device: {
  readonly server: LabHttpsServer;
  readonly host: string;
  readonly port: number;
  readonly credentials: LabCredentials;
  readonly faults: FaultController;
  readonly tls: LabTlsMaterial;
}): LabHttpsDevice {
  const { server, host, port, credentials, faults, tls } = device;
  return {
    host,
    port,
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    credentials,
    faults,
    endpoint: (overrides = {}) => ({
      address: host,
      port,
      username: credentials.username,
      password: credentials.password,
      tls: { mode: "verify", ca: tls.caCert },
      ...overrides,
    }),
    requests: () => server.requests(),
    clearRequests: () => server.clearRequests(),
  };
}

/** The given login, or admin with a fresh random password. */
export function labCredentials(given?: LabCredentials): LabCredentials {
  return given ?? { username: "admin", password: randomBytes(9).toString("base64url") };
}

export function checkDeviceCount(count: number, name: string): void {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`${name} must be a non-negative integer`);
}

/** A UUID (version 4 in form) that the same seed text always gives; `variant` is its 17th hex digit. */
export function seededUuid(seed: string, variant: "8" | "a" = "8"): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface StartedDevice<T> {
  readonly device: T;
  close(): Promise<void>;
}

export interface DeviceGroup<T> {
  /** In index order. */
  readonly devices: readonly T[];
  stop(): Promise<void>;
}

/**
 * Starts devices 0 … count-1, all at once or one after another. If any fails to start, those that did
 * are closed again before its error is thrown.
 */
export async function startDevices<T>(
  count: number,
  start: (index: number) => Promise<StartedDevice<T>>,
  order: "parallel" | "sequential",
): Promise<DeviceGroup<T>> {
  const started: Array<StartedDevice<T>> = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((entry) => entry.close()));
  };
  try {
    if (order === "parallel") {
      const results = await Promise.allSettled(Array.from({ length: count }, (_, index) => start(index)));
      for (const result of results) if (result.status === "fulfilled") started.push(result.value);
      const failed = results.find((result) => result.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    } else {
      for (let index = 0; index < count; index++) started.push(await start(index));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { devices: started.map((entry) => entry.device), stop };
}

/** A device's pending actions: each runs after its delay unless cancelled or the device has stopped. */
export class DeviceTimers {
  private readonly pending = new Set<NodeJS.Timeout>();
  private ended = false;

  get stopped(): boolean {
    return this.ended;
  }

  schedule(delayMs: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      if (!this.ended) action();
    }, delayMs);
    this.pending.add(timer);
  }

  /** Drops what is pending; later schedules still run. */
  cancel(): void {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }

  /** Drops what is pending and runs nothing any more. */
  stop(): void {
    this.ended = true;
    this.cancel();
  }
}
