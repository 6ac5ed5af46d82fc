/**
 * What every component manager needs: per-call deadlines joined with the caller's signal, the injected
 * expectations, and a bounded cache of open driver connections (Redfish sessions are worth reusing).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../../observability/logger.ts";
import { BmcError, type PowerState } from "../driver.ts";
import type { ComponentExpectation, ComponentPowerStatus, ComponentTarget } from "./model.ts";

export interface ComponentManagerOptions {
  readonly logger?: Logger;
  /** Deadline of one call (default 60 s); the caller's signal can end it sooner. */
  readonly callTimeoutMs?: number;
  /** Deadline of bringUp (default 10 minutes). */
  readonly bringUpTimeoutMs?: number;
  /** How often bringUp looks again while it waits (default 2 s). */
  readonly pollIntervalMs?: number;
  /** Open connections kept for reuse (default 256); the least recently used are closed beyond that. */
  readonly maxCachedConnections?: number;
}

export interface Closeable {
  close(): Promise<void>;
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
}

/** Open connections by endpoint key, least recently used first out (and closed). */
export class ConnectionCache<T extends Closeable> {
  private readonly entries = new Map<string, T>();

  constructor(
    private readonly max: number,
    private readonly logger: Logger | undefined,
  ) {}

  get(key: string, create: () => T): T {
    const existing = this.entries.get(key);
    if (existing !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, existing);
      return existing;
    }
    const created = create();
    this.entries.set(key, created);
    while (this.entries.size > Math.max(1, this.max)) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, T];
      this.entries.delete(oldestKey);
      this.closeQuietly(oldest);
    }
    return created;
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((entry) => entry.close().catch(() => undefined)));
  }

  private closeQuietly(entry: T): void {
    entry.close().catch((error: unknown) => {
      this.logger?.debug({ err: error }, "closing a cached component connection failed");
    });
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}
