import { type RawBuilder, sql } from "kysely";
import { afterPosition, sortValueText } from "../db/keyset.ts";
import type { BmcSortField } from "./bmc-model.ts";
import type { BmcProtocol, BmcRow, InventoryDb, StoredTlsPolicy } from "./inventory-tables.ts";
import { type ListPlan, textSearch } from "./listing.ts";

const SORT: Record<BmcSortField, RawBuilder<unknown>> = {
  macAddress: sql`bmcs.mac_address`,
  address: sql`bmcs.address`,
  createdAt: sql`bmcs.created_at`,
  updatedAt: sql`bmcs.updated_at`,
};

export interface BmcFilters {
  readonly componentId?: string | undefined;
  readonly machineId?: string | undefined;
  readonly protocol?: BmcProtocol | undefined;
  readonly q?: string | undefined;
}

export interface BmcValues {
  readonly componentId: string | null;
  readonly machineId: string | null;
  readonly address: string;
  readonly port: number | null;
  readonly protocol: BmcProtocol;
  readonly tls: StoredTlsPolicy;
  readonly username: string;
  /** vault ciphertext of the password */
  readonly credentials: string;
}

function columns(values: BmcValues) {
  return {
    component_id: values.componentId,
    machine_id: values.machineId,
    address: values.address,
    port: values.port,
    protocol: values.protocol,
    tls: JSON.stringify(values.tls),
    username: values.username,
    credentials: values.credentials,
  };
}

/** SQL for BMCs, keyed by MAC address. */
export class BmcStore {
  constructor(private readonly db: InventoryDb) {}

  async transaction<T>(work: (store: BmcStore) => Promise<T>): Promise<T> {
    return await this.db.transaction().execute(async (trx) => await work(new BmcStore(trx)));
  }

  async list(
    orgId: string,
    filters: BmcFilters,
    plan: ListPlan<BmcSortField>,
  ): Promise<Array<BmcRow & { sort_value: string }>> {
    const expression = SORT[plan.field];
    let query = this.db
      .selectFrom("bmcs")
      .selectAll()
      .select(sortValueText(expression).as("sort_value"))
      .where("org_id", "=", orgId);
    if (filters.componentId !== undefined) query = query.where("component_id", "=", filters.componentId);
    if (filters.machineId !== undefined) query = query.where("machine_id", "=", filters.machineId);
    if (filters.protocol !== undefined) query = query.where("protocol", "=", filters.protocol);
    if (filters.q !== undefined)
      query = query.where(textSearch([sql`bmcs.mac_address`, sql`bmcs.address`], filters.q));
    if (plan.after !== undefined)
      query = query.where(afterPosition(expression, "bmcs.mac_address", plan.direction, plan.after, "text"));
    return await query
      .orderBy(expression, plan.direction)
      .orderBy("bmcs.mac_address", plan.direction)
      .limit(plan.fetch)
      .execute();
  }

  /** The BMC with this (normalised) MAC address in the org. */
  async find(orgId: string, mac: string, options: { forUpdate?: boolean } = {}): Promise<BmcRow | undefined> {
    const query = this.db
      .selectFrom("bmcs")
      .selectAll()
      .where("org_id", "=", orgId)
      .where("mac_address", "=", mac);
    return await (options.forUpdate === true ? query.forUpdate() : query).executeTakeFirst();
  }

  /** The BMC with this MAC address, whatever its org (for enrollment, which starts from the MAC). */
  async findByMac(mac: string): Promise<BmcRow | undefined> {
    return await this.db.selectFrom("bmcs").selectAll().where("mac_address", "=", mac).executeTakeFirst();
  }

  async findByMachine(machineId: string): Promise<BmcRow | undefined> {
    return await this.db
      .selectFrom("bmcs")
      .selectAll()
      .where("machine_id", "=", machineId)
      .executeTakeFirst();
  }

  async liveComponentExists(orgId: string, componentId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("components")
      .select("id")
      .where("org_id", "=", orgId)
      .where("id", "=", componentId)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    return row !== undefined;
  }

  async machineExists(orgId: string, machineId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom("machines")
      .select("id")
      .where("org_id", "=", orgId)
      .where("id", "=", machineId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async insert(orgId: string, mac: string, values: BmcValues): Promise<BmcRow> {
    return await this.db
      .insertInto("bmcs")
      .values({ mac_address: mac, org_id: orgId, ...columns(values) })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(orgId: string, mac: string, values: BmcValues): Promise<BmcRow | undefined> {
    return await this.db
      .updateTable("bmcs")
      .set({ ...columns(values), updated_at: sql`now()` })
      .where("org_id", "=", orgId)
      .where("mac_address", "=", mac)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Links the BMC to a machine (enrollment found the machine behind it); null unlinks. False when no BMC
   * has the MAC. A machine has at most one BMC (bmcs_machine_id_key).
   */
  async linkMachine(mac: string, machineId: string | null): Promise<boolean> {
    const result = await this.db
      .updateTable("bmcs")
      .set({ machine_id: machineId, updated_at: sql`now()` })
      .where("mac_address", "=", mac)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async delete(orgId: string, mac: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("bmcs")
      .where("org_id", "=", orgId)
      .where("mac_address", "=", mac)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
