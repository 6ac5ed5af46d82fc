import { type ColumnType, type Kysely, type Selectable, sql } from "kysely";
import type { Db } from "../db/database.ts";
import type {
  DriftComponent,
  DriftExpected,
  DriftKind,
  DriftMachine,
  DriftRecord,
  FieldDiff,
} from "./drift-model.ts";
import type { BmcRow } from "./inventory-tables.ts";
import type { HardwareSpec } from "./spec-profile-model.ts";

interface InventoryDriftTable {
  key: string;
  org_id: string;
  kind: DriftKind;
  subject: string;
  machine_id: string | null;
  component_id: string | null;
  expected_machine_id: string | null;
  bmc_mac: string | null;
  diffs: ColumnType<FieldDiff[], string, string>;
  message: string;
  first_seen_at: Date;
  detected_at: Date;
}

interface InventorySyncCyclesTable {
  id: ColumnType<boolean, boolean | undefined, boolean>;
  replica: string;
  started_at: Date;
  finished_at: Date;
}

export type DriftTables = {
  inventory_drift: InventoryDriftTable;
  inventory_sync_cycles: InventorySyncCyclesTable;
};

export type DriftRow = Selectable<InventoryDriftTable>;

export interface DriftFilters {
  readonly kind?: DriftKind | undefined;
  readonly machineId?: string | undefined;
  readonly componentId?: string | undefined;
}

/** Rows per INSERT: 12 parameters each, far below PostgreSQL's 65535 per statement. */
const INSERT_BATCH = 1000;

/** What the drift rebuild reads from the recorded inventory, inside its transaction. */
export interface RecordedInventory {
  readonly bmcs: ReadonlyArray<{
    mac: string;
    orgId: string;
    address: string;
    machineId: string | null;
    componentId: string | null;
  }>;
  readonly machines: readonly DriftMachine[];
  readonly expected: readonly DriftExpected[];
  readonly components: readonly DriftComponent[];
}

/** SQL of the inventory sync: every BMC to read, the recorded inventory, and the drift table. */
export class DriftStore {
  private readonly db: Kysely<DriftTables>;

  constructor(db: Db) {
    this.db = db.withTables<DriftTables>();
  }

  /** Every BMC, of every org, in a stable order. */
  async allBmcs(trx: Db): Promise<BmcRow[]> {
    const result = await sql<BmcRow>`SELECT * FROM bmcs ORDER BY mac_address`.execute(trx);
    return result.rows;
  }

  async recordedInventory(trx: Db): Promise<RecordedInventory> {
    const [bmcs, machines, expected, components] = await Promise.all([
      sql<RecordedInventory["bmcs"][number]>`
        SELECT mac_address AS mac, org_id AS "orgId", address, machine_id AS "machineId",
               component_id AS "componentId"
        FROM bmcs`.execute(trx),
      sql<DriftMachine>`
        SELECT id, org_id AS "orgId", serial_number AS serial, system_uuid::text AS "systemUuid", model,
               expected_machine_id AS "expectedMachineId"
        FROM machines
        WHERE state ->> 'kind' <> 'retired'`.execute(trx),
      sql<{
        id: string;
        orgId: string;
        serial: string | null;
        bmcMac: string | null;
        spec: HardwareSpec | null;
      }>`
        SELECT e.id, e.org_id AS "orgId", e.serial_number AS serial, e.bmc_mac AS "bmcMac",
               CASE WHEN e.hardware_spec_profile_id IS NOT NULL THEN p.spec ELSE e.spec END AS spec
        FROM expected_machines e
        LEFT JOIN hardware_spec_profiles p ON p.id = e.hardware_spec_profile_id`.execute(trx),
      sql<DriftComponent>`
        SELECT id, org_id AS "orgId", type, name, serial_number AS serial, model,
               firmware_version AS "firmwareVersion", machine_id AS "machineId"
        FROM components
        WHERE deleted_at IS NULL`.execute(trx),
    ]);
    return {
      bmcs: bmcs.rows,
      machines: machines.rows,
      expected: expected.rows,
      components: components.rows,
    };
  }

  /**
   * Replaces every drift record with `records` (DELETE + INSERT, in the caller's transaction). A record
   * already present keeps its first_seen_at.
   */
  async replaceAll(records: readonly DriftRecord[], detectedAt: Date, trx: Db): Promise<void> {
    const db = trx.withTables<DriftTables>();
    const previous = await db.selectFrom("inventory_drift").select(["key", "first_seen_at"]).execute();
    const firstSeen = new Map(previous.map((row) => [row.key, row.first_seen_at]));
    await db.deleteFrom("inventory_drift").execute();
    for (let start = 0; start < records.length; start += INSERT_BATCH) {
      await db
        .insertInto("inventory_drift")
        .values(
          records.slice(start, start + INSERT_BATCH).map((record) => ({
            key: record.key,
            org_id: record.orgId,
            kind: record.kind,
            subject: record.subject,
            machine_id: record.machineId,
            component_id: record.componentId,
            expected_machine_id: record.expectedMachineId,
            bmc_mac: record.bmcMac,
            diffs: JSON.stringify(record.diffs),
            message: record.message,
            first_seen_at: firstSeen.get(record.key) ?? detectedAt,
            detected_at: detectedAt,
          })),
        )
        .execute();
    }
  }

  async recordCycle(replica: string, startedAt: Date, finishedAt: Date, trx: Db): Promise<void> {
    await trx
      .withTables<DriftTables>()
      .insertInto("inventory_sync_cycles")
      .values({ id: true, replica, started_at: startedAt, finished_at: finishedAt })
      .onConflict((oc) =>
        oc.column("id").doUpdateSet({ replica, started_at: startedAt, finished_at: finishedAt }),
      )
      .execute();
  }

  /** A page of the org's drift, by key; `after` is the last key of the previous page. */
  async list(
    orgId: string,
    filters: DriftFilters,
    after: string | undefined,
    limit: number,
  ): Promise<DriftRow[]> {
    let query = this.db.selectFrom("inventory_drift").selectAll().where("org_id", "=", orgId);
    if (filters.kind !== undefined) query = query.where("kind", "=", filters.kind);
    if (filters.machineId !== undefined) query = query.where("machine_id", "=", filters.machineId);
    if (filters.componentId !== undefined) query = query.where("component_id", "=", filters.componentId);
    if (after !== undefined) query = query.where("key", ">", after);
    return await query.orderBy("key").limit(limit).execute();
  }

  async counts(orgId: string): Promise<Record<DriftKind, number>> {
    const rows = await this.db
      .selectFrom("inventory_drift")
      .select(["kind", sql<number>`count(*)::int`.as("count")])
      .where("org_id", "=", orgId)
      .groupBy("kind")
      .execute();
    const counts: Record<DriftKind, number> = { missing_in_expected: 0, missing_in_actual: 0, mismatch: 0 };
    for (const row of rows) counts[row.kind] = row.count;
    return counts;
  }

  async lastCycle(): Promise<Selectable<InventorySyncCyclesTable> | undefined> {
    return await this.db.selectFrom("inventory_sync_cycles").selectAll().executeTakeFirst();
  }
}
