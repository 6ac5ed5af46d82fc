/**
 * Open BMC drivers, kept for reuse. A Redfish login costs a BMC a session slot, an entry in its audit log
 * and on some BMCs (iLO) most of a second, and the inventory sync touches every BMC every few minutes, so
 * drivers are cached instead of logging in and out around every call:
 *
 * - Keyed by everything that reaches the BMC (protocol, address, port, username, password, TLS policy,
 *   timeout): a changed password or TLS policy gets a new driver, and the old one idles out.
 * - Bounded: at most `maxOpen` drivers; beyond it the least recently used idle one is closed.
 * - Idle drivers are closed after `idleTimeoutMs` (default 5 min, well inside the 30 min session timeout of
 *   common BMCs), which deletes their Redfish session.
 * - A driver that failed authentication or TLS verification is dropped at once, so the next call starts
 *   from a fresh login instead of a stale session.
 * - Every operation has a deadline (`operationTimeoutMs`, default 60 s) over however many requests it
 *   takes; the caller's signal can end it sooner. A driver that ignored its signal still cannot hang the
 *   caller: the deadline wins the race and reports a BmcError of kind "timeout".
 */
import { createHash } from "node:crypto";
import type { Logger } from "../observability/logger.ts";
import { type BmcDriver, BmcError } from "./driver.ts";
import { type BmcTarget, describeBmcAddress } from "./driver-factory.ts";

/** What is kept open per BMC: a BmcDriver, or another client of one BMC (a power shelf's Redfish session). */
export interface BmcConnection {
  close(): Promise<void>;
}

export interface BmcConnectionsOptions<C extends BmcConnection = BmcDriver> {
  readonly factory: (target: BmcTarget) => C;
  /** Drivers kept open (default 256). Drivers in use are never closed to make room. */
  readonly maxOpen?: number;
  /** An unused driver is closed after this long (default 5 minutes). */
  readonly idleTimeoutMs?: number;
  /** Deadline of one operation, all its requests together (default 60 s). */
  readonly operationTimeoutMs?: number;
  readonly logger?: Logger;
}

export interface BmcOperationOptions {
  /** Ends the operation early (a shutdown, a client that went away). */
  readonly signal?: AbortSignal;
  /** Overrides the default operation deadline. */
  readonly timeoutMs?: number;
}

export const DEFAULT_BMC_OPERATION_TIMEOUT_MS = 60_000;

/** Failures after which a cached driver is not trusted again. */
const DISCARD_ON = new Set<BmcError["kind"]>(["auth", "tls"]);

interface Entry<C extends BmcConnection> {
  readonly key: string;
  readonly driver: C;
  leases: number;
  lastUsed: number;
  /** Out of the cache; closed when its last lease ends. */
  retired: boolean;
}

export class BmcConnections<C extends BmcConnection = BmcDriver> {
  private readonly entries = new Map<string, Entry<C>>();
  private readonly maxOpen: number;
  private readonly idleTimeoutMs: number;
  readonly operationTimeoutMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: BmcConnectionsOptions<C>) {
    this.maxOpen = Math.max(1, options.maxOpen ?? 256);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
    this.operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_BMC_OPERATION_TIMEOUT_MS;
  }

  /** Drivers open now (cached, in use or not). */
  get openCount(): number {
    return this.entries.size;
  }

  /**
   * Runs `work` with a driver for the target under the operation's deadline. `operation` names what is
   * done ("power on", "read the inventory") in the timeout message.
   */
  async use<T>(
    target: BmcTarget,
    operation: string,
    work: (driver: C, signal: AbortSignal) => Promise<T>,
    options: BmcOperationOptions = {},
  ): Promise<T> {
    const bmc = `BMC ${describeBmcAddress(target.endpoint)}`;
    if (this.closed) throw new BmcError("unreachable", `${bmc}: the server is shutting down`);
    const timeoutMs = options.timeoutMs ?? this.operationTimeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]);
    const ended = (): BmcError =>
      options.signal?.aborted === true
        ? new BmcError("timeout", `${bmc}: ${operation} was cancelled`)
        : new BmcError("timeout", `${bmc}: ${operation} did not finish within ${timeoutMs} ms`);
    if (signal.aborted) throw ended();

    const entry = this.lease(target);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(ended());
      signal.addEventListener("abort", onAbort, { once: true });
    });
    const running = work(entry.driver, signal);
    // Whichever loses the race must not become an unhandled rejection.
    running.catch(() => undefined);
    aborted.catch(() => undefined);
    try {
      return await Promise.race([running, aborted]);
    } catch (error) {
      if (signal.aborted) throw ended();
      if (error instanceof BmcError && DISCARD_ON.has(error.kind)) this.retire(entry);
      throw error;
    } finally {
      if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
      this.release(entry);
    }
  }

  /** Closes drivers unused for longer than the idle timeout; returns how many. */
  async closeIdle(now: number = Date.now()): Promise<number> {
    const idle = [...this.entries.values()].filter(
      (entry) => entry.leases === 0 && now - entry.lastUsed >= this.idleTimeoutMs,
    );
    for (const entry of idle) this.entries.delete(entry.key);
    await Promise.all(idle.map((entry) => this.closeDriver(entry)));
    return idle.length;
  }

  /** Closes every driver (ending their sessions); later calls fail. Drivers in use close when released. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      all.map(async (entry) => {
        entry.retired = true;
        if (entry.leases === 0) await this.closeDriver(entry);
      }),
    );
  }

  private lease(target: BmcTarget): Entry<C> {
    const key = keyOf(target);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { key, driver: this.options.factory(target), leases: 0, lastUsed: Date.now(), retired: false };
      this.entries.set(key, entry);
      this.makeRoom();
      this.startSweeper();
    } else {
      // Map order is recency order: move to the end.
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    entry.leases++;
    entry.lastUsed = Date.now();
    return entry;
  }

  private release(entry: Entry<C>): void {
    entry.leases--;
    entry.lastUsed = Date.now();
    if (entry.retired && entry.leases === 0) void this.closeDriver(entry);
  }

  private retire(entry: Entry<C>): void {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    entry.retired = true;
  }

  private makeRoom(): void {
    for (const entry of this.entries.values()) {
      if (this.entries.size <= this.maxOpen) return;
      if (entry.leases > 0) continue;
      this.entries.delete(entry.key);
      void this.closeDriver(entry);
    }
  }

  private startSweeper(): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = setInterval(
      () => {
        void this.closeIdle();
      },
      Math.max(1_000, Math.min(this.idleTimeoutMs / 2, 60_000)),
    );
    this.sweeper.unref();
  }

  private async closeDriver(entry: Entry<C>): Promise<void> {
    try {
      await entry.driver.close();
    } catch (error) {
      this.options.logger?.debug({ err: error }, "closing a BMC driver failed");
    }
  }
}

/** Everything that decides how the BMC is reached; the password only as part of a hash. */
function keyOf(target: BmcTarget): string {
  const { endpoint } = target;
  return createHash("sha256")
    .update(
      JSON.stringify([
        target.protocol,
        endpoint.address,
        endpoint.port ?? null,
        endpoint.username,
        endpoint.password,
        // Field by field: the same policy read back from jsonb has its keys in another order.
        tlsKey(endpoint.tls),
        endpoint.timeoutMs ?? null,
      ]),
    )
    .digest("hex");
}

function tlsKey(tls: BmcTarget["endpoint"]["tls"]): unknown[] {
  if (tls === undefined) return ["verify"];
  switch (tls.mode) {
    case "verify":
      return ["verify", tls.ca ?? null];
    case "pinned":
      return ["pinned", tls.sha256Fingerprint];
    case "insecure-allow-self-signed":
      return ["insecure-allow-self-signed"];
  }
}
