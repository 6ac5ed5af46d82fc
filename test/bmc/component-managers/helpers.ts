import {
  type ComponentFirmwareStatus,
  type ComponentManager,
  type ComponentTarget,
  createComponentManagerRegistry,
  type SshEndpoint,
} from "../../../src/bmc/component-managers/index.ts";
import type { ComponentManagerRegistry } from "../../../src/bmc/component-managers/registry.ts";
import type { BmcEndpoint } from "../../../src/bmc/driver.ts";
import { BmcError } from "../../../src/bmc/driver.ts";

export const signal = (ms = 30_000): AbortSignal => AbortSignal.timeout(ms);

/** A registry with quick polling and retries, for managers driving the lab. */
export function labRegistry(callTimeoutMs = 30_000): ComponentManagerRegistry {
  return createComponentManagerRegistry({
    callTimeoutMs,
    bringUpTimeoutMs: 30_000,
    pollIntervalMs: 50,
    redfish: {
      pollIntervalMs: 25,
      transitionTimeoutMs: 10_000,
      retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 2_000 },
    },
    ipmi: { powerPollIntervalMs: 100 },
  });
}

export function target(id: string, bmc: BmcEndpoint, extra: Partial<ComponentTarget> = {}): ComponentTarget {
  return { id, name: `lab ${id}`, bmc, ...extra };
}

export function nvosTarget(id: string, bmc: BmcEndpoint, nvos: SshEndpoint): ComponentTarget {
  return { id, bmc, nvos };
}

export function kindOf(error: unknown): string {
  return error instanceof BmcError ? error.kind : `not a BmcError: ${String(error)}`;
}

/** Polls getFirmwareStatus until the update ends, returning every distinct (state, phase) seen on the way. */
export async function followUpdate(
  manager: ComponentManager,
  on: ComponentTarget,
  handle: string,
  timeoutMs = 20_000,
): Promise<{ final: ComponentFirmwareStatus; seen: string[]; statuses: ComponentFirmwareStatus[] }> {
  const deadline = Date.now() + timeoutMs;
  const seen: string[] = [];
  const statuses: ComponentFirmwareStatus[] = [];
  for (;;) {
    const status = await manager.getFirmwareStatus(on, handle, signal());
    statuses.push(status);
    const label = `${status.state}/${status.phase}`;
    if (seen.at(-1) !== label) seen.push(label);
    if (["completed", "failed", "cancelled"].includes(status.state)) return { final: status, seen, statuses };
    if (Date.now() > deadline)
      throw new Error(`the update did not end within ${timeoutMs} ms; saw ${seen.join(" → ")}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
