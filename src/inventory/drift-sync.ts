/**
 * The periodic inventory sync (seeds 000/001): read every BMC's out-of-band inventory, record what each
 * contact showed (power state, last contact, last error, inventory) and rebuild the drift table.
 *
 * Only one replica runs a cycle at a time: the cycle holds a session-level advisory lock
 * (ADVISORY_LOCKS.inventorySync) on a connection of its own while it reads the BMCs, and a replica that
 * finds it taken skips its turn (the holder's cycle covers everyone). Writing happens at the end, in ONE
 * transaction: the observations, DELETE of every drift record and INSERT of the new ones, and the cycle's
 * row, so a reader sees one whole cycle. A cycle that is stopped (shutdown) writes nothing.
 */
import { hostname } from "node:os";
import { sql } from "kysely";
import type { BmcConnections } from "../bmc/connections.ts";
import { ADVISORY_LOCKS, type Db } from "../db/database.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { Gauge, Histogram, type Registry } from "../observability/metrics.ts";
import { storedOobInventory } from "./bmc-explore-model.ts";
import type { BmcExploreStore } from "./bmc-explore-store.ts";
import type { BmcService } from "./bmc-service.ts";
import { type BmcReading, computeDrift, DRIFT_KINDS, type DriftBmc } from "./drift-model.ts";
import type { DriftStore } from "./drift-store.ts";
import type { BmcRow } from "./inventory-tables.ts";

export type SyncCycleResult =
  | { readonly kind: "skipped"; readonly reason: string }
  | {
      readonly kind: "completed";
      readonly bmcs: number;
      readonly answered: number;
      readonly failed: number;
      readonly records: number;
      readonly durationMs: number;
    };

export interface InventorySyncMetrics {
  readonly cycleDuration: Histogram;
  readonly bmcs: Gauge<"result">;
  readonly driftRecords: Gauge<"kind">;
}

export function createInventorySyncMetrics(registry: Registry): InventorySyncMetrics {
  return {
    cycleDuration: new Histogram({
      name: "ingot_inventory_sync_cycle_duration_seconds",
      help: "Duration of completed inventory sync cycles (BMC reads and the drift rebuild)",
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    bmcs: new Gauge({
      name: "ingot_inventory_sync_bmcs",
      help: "BMCs read by the last inventory sync cycle, by whether they answered",
      labelNames: ["result"],
      registers: [registry],
    }),
    driftRecords: new Gauge({
      name: "ingot_inventory_drift_records",
      help: "Inventory drift records after the last sync cycle, by kind",
      labelNames: ["kind"],
      registers: [registry],
    }),
  };
}

export interface InventorySyncDeps {
  readonly db: Db;
  readonly store: DriftStore;
  readonly observations: BmcExploreStore;
  readonly bmcs: BmcService;
  readonly connections: BmcConnections;
  readonly logger: Logger;
  readonly metrics?: InventorySyncMetrics;
  /** Names this replica in the cycle row; default host:pid. */
  readonly replica?: string;
  /** BMCs read at once (default 16). */
  readonly concurrency?: number;
}

export class InventorySync {
  private readonly replica: string;
  private readonly stopping = new AbortController();

  constructor(private readonly deps: InventorySyncDeps) {
    this.replica = deps.replica ?? `${hostname()}:${process.pid}`;
  }

  /** Ends a cycle in progress without writing anything; later cycles are skipped. */
  stop(): void {
    this.stopping.abort();
  }

  async runCycle(signal?: AbortSignal): Promise<SyncCycleResult> {
    const cancel =
      signal === undefined ? this.stopping.signal : AbortSignal.any([signal, this.stopping.signal]);
    if (cancel.aborted) return { kind: "skipped", reason: "the sync is stopped" };
    return await this.deps.db.connection().execute(async (connection) => {
      const locked = await sql<{ locked: boolean }>`
        SELECT pg_try_advisory_lock(${ADVISORY_LOCKS.inventorySync}) AS locked
      `.execute(connection);
      if (locked.rows[0]?.locked !== true) {
        return { kind: "skipped", reason: "another replica is running a cycle" } as const;
      }
      try {
        return await this.cycle(connection, cancel);
      } finally {
        await sql`SELECT pg_advisory_unlock(${ADVISORY_LOCKS.inventorySync})`.execute(connection);
      }
    });
  }

  private async cycle(connection: Db, cancel: AbortSignal): Promise<SyncCycleResult> {
    const startedAt = new Date();
    // The database's clock, as the rows' updated_at and last_contact_at it is compared with.
    const readSince = (await sql<{ now: Date }>`SELECT clock_timestamp() AS now`.execute(connection)).rows[0]
      ?.now;
    const rows = await this.deps.store.allBmcs(connection);
    const readings = await mapLimit(rows, this.deps.concurrency ?? 16, (row) => this.read(row, cancel));
    if (cancel.aborted) return { kind: "skipped", reason: "the sync was stopped during the cycle" };
    const byMac = new Map(rows.map((row, index) => [row.mac_address, readings[index]]));
    const outcome = await connection.transaction().execute(async (trx) => {
      const recorded = await this.deps.store.recordedInventory(trx);
      // BMCs deleted while the cycle read them are left out; links come from the rows as they are now.
      const bmcs: DriftBmc[] = recorded.bmcs.flatMap((bmc) => {
        const reading = byMac.get(bmc.mac);
        return reading === undefined ? [] : [{ ...bmc, reading }];
      });
      for (const bmc of bmcs) {
        await this.deps.observations.recordObservation(
          bmc.mac,
          bmc.reading.kind === "answered"
            ? {
                kind: "answered",
                powerState: bmc.reading.inventory.powerState,
                inventory: storedOobInventory(bmc.reading.inventory),
              }
            : { kind: "failed", error: bmc.reading.error },
          trx,
          readSince,
        );
      }
      const records = computeDrift({
        bmcs,
        machines: recorded.machines,
        expected: recorded.expected,
        components: recorded.components,
      });
      const finishedAt = new Date();
      await this.deps.store.replaceAll(records, finishedAt, trx);
      await this.deps.store.recordCycle(this.replica, startedAt, finishedAt, trx);
      return { bmcs, records };
    });
    const answered = outcome.bmcs.filter((bmc) => bmc.reading.kind === "answered").length;
    const result = {
      kind: "completed",
      bmcs: outcome.bmcs.length,
      answered,
      failed: outcome.bmcs.length - answered,
      records: outcome.records.length,
      durationMs: Date.now() - startedAt.getTime(),
    } as const;
    const { metrics } = this.deps;
    if (metrics !== undefined) {
      metrics.cycleDuration.observe(result.durationMs / 1000);
      metrics.bmcs.set({ result: "answered" }, result.answered);
      metrics.bmcs.set({ result: "failed" }, result.failed);
      for (const kind of DRIFT_KINDS) {
        metrics.driftRecords.set({ kind }, outcome.records.filter((record) => record.kind === kind).length);
      }
    }
    this.deps.logger.info(
      {
        bmcs: result.bmcs,
        answered,
        failed: result.failed,
        drift: result.records,
        durationMs: result.durationMs,
      },
      "inventory sync cycle done",
    );
    return result;
  }

  private async read(row: BmcRow, cancel: AbortSignal): Promise<BmcReading> {
    try {
      const endpoint = this.deps.bmcs.endpointOf(row);
      const inventory = await this.deps.connections.use(
        { protocol: row.protocol, endpoint },
        "read the out-of-band inventory",
        (driver, signal) => driver.getInventory(signal),
        { signal: cancel },
      );
      return { kind: "answered", inventory };
    } catch (error) {
      return { kind: "failed", error: errorMessage(error) };
    }
  }
}

/** Runs `work` over the items with at most `limit` at once; results in the items' order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, () => worker()));
  return results;
}
