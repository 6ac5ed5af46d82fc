/**
 * What every component manager needs: per-call deadlines joined with the caller's signal, the injected
 * expectations, and its targets' BMC connections, reused through BmcConnections (Redfish sessions are worth
 * reusing).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../../observability/logger.ts";
import { type BmcConnection, BmcConnections } from "../connections.ts";
import { BmcError, type PowerState } from "../driver.ts";
import type { BmcDriverProtocol, BmcTarget } from "../driver-factory.ts";
import {
  type BringUpResult,
  type ComponentExpectation,
  type ComponentFirmwareStatus,
  type ComponentManager,
  type ComponentPowerStatus,
  type ComponentTarget,
  consistencyOf,
  type FirmwareConsistencyReport,
  type FirmwareVersionReading,
  versionMatches,
} from "./model.ts";

export interface ComponentManagerOptions {
  readonly logger?: Logger;
  /** Deadline of one call (default 60 s); the caller's signal can end it sooner. */
  readonly callTimeoutMs?: number;
  /** Deadline of bringUp (default 10 minutes). */
  readonly bringUpTimeoutMs?: number;
  /** How often bringUp looks again while it waits (default 2 s). */
  readonly pollIntervalMs?: number;
  /** BMC connections kept open for reuse (default 256); beyond that the least recently used idle one closes. */
  readonly maxCachedConnections?: number;
}

/** Reads of many targets at once stay below this, so a rack's BMCs are not all hit together. */
const CONSISTENCY_PARALLELISM = 8;

/** How bringUp reports the power-on steps of a component. */
export interface PowerOnWords {
  readonly alreadyOn: string;
  readonly requested: string;
  readonly done: string;
}

export function describeTarget(target: ComponentTarget): string {
  return target.name !== undefined ? `component ${target.name} (${target.id})` : `component ${target.id}`;
}

export class ManagerSupport {
  readonly callTimeoutMs: number;
  readonly bringUpTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly logger: Logger | undefined;
  private readonly expectations = new Map<string, ComponentExpectation>();

  constructor(options: ComponentManagerOptions) {
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.bringUpTimeoutMs = options.bringUpTimeoutMs ?? 600_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 2_000;
    this.logger = options.logger;
  }

  inject(target: ComponentTarget, expectation: ComponentExpectation): void {
    const merged = { ...this.expectations.get(target.id), ...stripUndefined(expectation) };
    this.expectations.set(target.id, merged);
  }

  expectationOf(target: ComponentTarget): ComponentExpectation {
    return this.expectations.get(target.id) ?? {};
  }

  /** A power status with the expectation and drift filled in. */
  powerStatus(
    target: ComponentTarget,
    state: PowerState,
    extra: Omit<ComponentPowerStatus, "state" | "expected" | "drift"> = {},
  ): ComponentPowerStatus {
    const expected = this.expectationOf(target).power;
    const settled = state === "on" || state === "off";
    return {
      state,
      ...(expected !== undefined ? { expected } : {}),
      drift: expected !== undefined && settled && state !== expected,
      ...extra,
    };
  }

  /**
   * Runs `work` under the caller's signal and a deadline. Whatever `work` does, the call ends when either
   * fires, with a BmcError of kind "timeout" that says which.
   */
  async call<T>(
    target: ComponentTarget,
    operation: string,
    signal: AbortSignal,
    work: (signal: AbortSignal) => Promise<T>,
    timeoutMs: number = this.callTimeoutMs,
  ): Promise<T> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = AbortSignal.any([signal, deadline]);
    const ended = (): BmcError =>
      signal.aborted
        ? new BmcError("timeout", `${describeTarget(target)}: ${operation} was cancelled by the caller`)
        : new BmcError(
            "timeout",
            `${describeTarget(target)}: ${operation} did not finish within ${timeoutMs} ms`,
          );
    if (combined.aborted) throw ended();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(ended());
      combined.addEventListener("abort", onAbort, { once: true });
    });
    // Async so that a synchronous throw in `work` takes the same path as a rejection.
    const running = (async () => await work(combined))();
    // Whichever loses the race must not become an unhandled rejection.
    running.catch(() => undefined);
    aborted.catch(() => undefined);
    try {
      return await Promise.race([running, aborted]);
    } catch (error) {
      if (combined.aborted) throw ended();
      throw error;
    } finally {
      if (onAbort !== undefined) combined.removeEventListener("abort", onAbort);
    }
  }

  /** Waits `ms` unless the signal ends first (then throws, and `call` reports the deadline). */
  async pause(ms: number, signal: AbortSignal): Promise<void> {
    await sleep(ms, undefined, { signal });
  }

  /** `call` for bringUp: its own operation name and its longer deadline. */
  async bringUp(
    target: ComponentTarget,
    signal: AbortSignal,
    work: (signal: AbortSignal) => Promise<BringUpResult>,
  ): Promise<BringUpResult> {
    return await this.call(target, "bring-up", signal, work, this.bringUpTimeoutMs);
  }

  /**
   * Switches the component on through its manager unless it is on or powering on already, then polls until
   * it is on; the steps say what happened in the manager's words.
   */
  async powerOn(
    manager: Pick<ComponentManager, "getPowerStatus" | "powerControl">,
    target: ComponentTarget,
    words: PowerOnWords,
    signal: AbortSignal,
  ): Promise<string[]> {
    let { state } = await manager.getPowerStatus(target, signal);
    if (state === "on") return [words.alreadyOn];
    const steps: string[] = [];
    if (state !== "powering-on") {
      await manager.powerControl(target, "on", signal);
      steps.push(words.requested);
    }
    while (state !== "on") {
      await this.pause(this.pollIntervalMs, signal);
      ({ state } = await manager.getPowerStatus(target, signal));
    }
    steps.push(words.done);
    return steps;
  }
}

/**
 * A manager's connections to its targets' BMCs: made by `factory`, kept and closed by BmcConnections, each
 * use inside ManagerSupport.call so that deadline and cancellation messages name the component.
 */
export class TargetConnections<C extends BmcConnection> {
  private readonly connections: BmcConnections<C>;

  constructor(
    private readonly support: ManagerSupport,
    private readonly protocol: BmcDriverProtocol,
    factory: (target: BmcTarget) => C,
    options: ComponentManagerOptions,
  ) {
    this.connections = new BmcConnections({
      factory,
      maxOpen: options.maxCachedConnections ?? 256,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
  }

  async use<T>(
    target: ComponentTarget,
    operation: string,
    signal: AbortSignal,
    work: (connection: C, signal: AbortSignal) => Promise<T>,
    timeoutMs: number = this.support.callTimeoutMs,
  ): Promise<T> {
    return await this.support.call(
      target,
      operation,
      signal,
      (call) =>
        this.connections.use({ protocol: this.protocol, endpoint: target.bmc }, operation, work, {
          signal: call,
          timeoutMs,
        }),
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    await this.connections.close();
  }
}

/** Reads one version per target, a few at a time (a target that fails is reported, not thrown), and compares. */
export async function firmwareConsistencyOf(
  targets: readonly ComponentTarget[],
  read: (target: ComponentTarget) => Promise<string>,
): Promise<FirmwareConsistencyReport> {
  const readings = new Array<FirmwareVersionReading>(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const index = next++;
      const target = targets[index] as ComponentTarget;
      try {
        readings[index] = { targetId: target.id, version: await read(target) };
      } catch (error) {
        readings[index] = {
          targetId: target.id,
          error: error instanceof Error ? error.message : String(error),
        };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONSISTENCY_PARALLELISM, targets.length) }, worker));
  return consistencyOf(readings);
}

/** An update in its install phase: the device works on it (or gave up), as its task reports. */
export function installPhase(
  handle: string,
  task: Pick<ComponentFirmwareStatus, "state" | "percent" | "messages">,
  expectedVersion: string | undefined,
): ComponentFirmwareStatus {
  return {
    handle,
    state: task.state,
    phase: "install",
    ...(task.percent !== undefined ? { percent: task.percent } : {}),
    ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    messages: task.messages,
  };
}

/**
 * An update that has ended: the version read back decides between completed and failed. `reports` names
 * the reader in the mismatch message ("the shelf reports", "NVOS runs").
 */
export function verified(
  handle: string,
  version: string,
  expectedVersion: string | undefined,
  messages: readonly string[],
  reports: string,
): ComponentFirmwareStatus {
  const mismatch = expectedVersion !== undefined && !versionMatches(version, expectedVersion);
  return {
    handle,
    state: mismatch ? "failed" : "completed",
    phase: "verify",
    percent: 100,
    version,
    ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    messages: mismatch
      ? [...messages, `version mismatch: expected ${expectedVersion}, ${reports} ${version}`]
      : messages,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}
