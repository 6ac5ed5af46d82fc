import path from "node:path";
import type { BmcEndpoint, PowerState } from "../../../src/bmc/driver.ts";
import {
  createRedfishDriver,
  type RedfishDriver,
  type RedfishDriverOptions,
} from "../../../src/bmc/redfish/index.ts";

export const FIXTURES = path.resolve(import.meta.dirname, "../../../../shared/fixtures/redfish");

/** Quick machines: transitions long enough to be observed, short enough for a test. */
export const FAST_TIMING = {
  powerOnDelayMs: 600,
  powerOffDelayMs: 400,
  gracefulShutdownMs: 400,
  firmwareUpdateMs: 600,
  thermalTimeConstantMs: 400,
} as const;

export function fastDriver(endpoint: BmcEndpoint, options: RedfishDriverOptions = {}): RedfishDriver {
  return createRedfishDriver(endpoint, {
    pollIntervalMs: 25,
    retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 2_000 },
    transitionTimeoutMs: 10_000,
    ...options,
  });
}

export function deadline(ms = 20_000): AbortSignal {
  return AbortSignal.timeout(ms);
}

/** Polls the power state until `wanted`, returning every distinct state seen on the way. */
export async function watchPower(
  driver: RedfishDriver,
  wanted: PowerState,
  timeoutMs = 10_000,
): Promise<PowerState[]> {
  const seen: PowerState[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const state = await driver.getPowerState(deadline());
    if (seen.at(-1) !== state) seen.push(state);
    if (state === wanted) return seen;
    if (Date.now() > end) throw new Error(`power state never became ${wanted}; saw ${seen.join(" → ")}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
