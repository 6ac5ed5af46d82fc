/**
 * One place that turns "this BMC speaks Redfish (or IPMI) at this endpoint" into a BmcDriver, with the
 * deadlines every caller gets: a per-request timeout (each HTTP request, each ipmitool command) unless the
 * endpoint names its own. Everything that talks to a BMC goes through here, usually via BmcConnections.
 */
import type { Logger } from "../observability/logger.ts";
import type { BmcDriver, BmcEndpoint } from "./driver.ts";
import { createIpmiDriver, type IpmiDriverOptions } from "./ipmi/driver.ts";
import { createRedfishDriver, type RedfishDriverOptions } from "./redfish/index.ts";

export const BMC_DRIVER_PROTOCOLS = ["redfish", "ipmi"] as const;
export type BmcDriverProtocol = (typeof BMC_DRIVER_PROTOCOLS)[number];

/** A BMC as a driver needs it: how to speak to it, and where (with the plaintext password, in memory only). */
export interface BmcTarget {
  readonly protocol: BmcDriverProtocol;
  readonly endpoint: BmcEndpoint;
}

export interface BmcDriverSettings {
  readonly logger?: Logger;
  /** Deadline of one request to the BMC when the endpoint sets none (default 15 s). */
  readonly requestTimeoutMs?: number;
  readonly redfish?: Omit<RedfishDriverOptions, "logger">;
  readonly ipmi?: Omit<IpmiDriverOptions, "logger">;
}

export const DEFAULT_BMC_REQUEST_TIMEOUT_MS = 15_000;

export type BmcDriverFactory = (target: BmcTarget) => BmcDriver;

/** The driver for the target's protocol; the caller closes it (or lets BmcConnections do so). */
export function createBmcDriver(target: BmcTarget, settings: BmcDriverSettings = {}): BmcDriver {
  const endpoint: BmcEndpoint = {
    ...target.endpoint,
    timeoutMs: target.endpoint.timeoutMs ?? settings.requestTimeoutMs ?? DEFAULT_BMC_REQUEST_TIMEOUT_MS,
  };
  const logger = settings.logger !== undefined ? { logger: settings.logger } : {};
  switch (target.protocol) {
    case "redfish":
      return createRedfishDriver(endpoint, { ...settings.redfish, ...logger });
    case "ipmi":
      return createIpmiDriver(endpoint, { ...settings.ipmi, ...logger });
  }
}

/** A factory bound to settings, for code that is handed "how to make drivers" (connections, managers). */
export function bmcDriverFactory(settings: BmcDriverSettings = {}): BmcDriverFactory {
  return (target) => createBmcDriver(target, settings);
}

/** "10.0.0.5" or "10.0.0.5:8443" (IPv6 in brackets): how messages name a BMC. */
export function describeBmcAddress(endpoint: Pick<BmcEndpoint, "address" | "port">): string {
  if (endpoint.port === undefined) return endpoint.address;
  const bracketed = endpoint.address.includes(":") && !endpoint.address.startsWith("[");
  return `${bracketed ? `[${endpoint.address}]` : endpoint.address}:${endpoint.port}`;
}
